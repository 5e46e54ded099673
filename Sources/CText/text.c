// FreeType rendering behind ctext.h: one FT_Library per font, so fonts used on different threads
// share nothing (FreeType's objects are not thread-safe).
#include "ctext.h"

#include <ft2build.h>
#include FT_FREETYPE_H

#include <stdio.h>
#include <stdlib.h>

struct mn_font {
    FT_Library library;
    FT_Face face;
};

mn_font *mn_font_open(const char *path, uint32_t pixel_height, char *error, size_t error_capacity) {
    mn_font *font = calloc(1, sizeof *font);
    if (!font) {
        snprintf(error, error_capacity, "out of memory");
        return NULL;
    }
    FT_Error status = FT_Init_FreeType(&font->library);
    if (status) {
        snprintf(error, error_capacity, "FreeType cannot start (error %d)", status);
        free(font);
        return NULL;
    }
    status = FT_New_Face(font->library, path, 0, &font->face);
    if (!status) status = FT_Set_Pixel_Sizes(font->face, 0, pixel_height);
    if (status) {
        snprintf(error, error_capacity, "cannot open the font %s at %u px (FreeType error %d)", path, pixel_height,
                 status);
        mn_font_free(font);
        return NULL;
    }
    return font;
}

void mn_font_free(mn_font *font) {
    if (!font) return;
    if (font->face) FT_Done_Face(font->face);
    if (font->library) FT_Done_FreeType(font->library);
    free(font);
}

void mn_font_metrics(const mn_font *font, int32_t *ascent, int32_t *descent, int32_t *line_height) {
    // Size metrics are 26.6 fixed point; round outward so a line's box holds every glyph.
    const FT_Size_Metrics *m = &font->face->size->metrics;
    if (ascent) *ascent = (int32_t)((m->ascender + 63) >> 6);
    if (descent) *descent = (int32_t)((-m->descender + 63) >> 6);
    if (line_height) *line_height = (int32_t)((m->height + 63) >> 6);
}

/// The kerning between two glyphs in 26.6 pixels (0 when the font has none).
static FT_Pos kerning(FT_Face face, FT_UInt previous, FT_UInt glyph) {
    if (!previous || !FT_HAS_KERNING(face)) return 0;
    FT_Vector delta;
    if (FT_Get_Kerning(face, previous, glyph, FT_KERNING_DEFAULT, &delta)) return 0;
    return delta.x;
}

int32_t mn_font_measure(mn_font *font, const uint32_t *scalars, size_t count) {
    FT_Face face = font->face;
    FT_Pos pen = 0;
    FT_UInt previous = 0;
    for (size_t i = 0; i < count; ++i) {
        FT_UInt glyph = FT_Get_Char_Index(face, scalars[i]);
        pen += kerning(face, previous, glyph);
        if (FT_Load_Glyph(face, glyph, FT_LOAD_DEFAULT)) continue;
        pen += face->glyph->advance.x;
        previous = glyph;
    }
    return (int32_t)((pen + 63) >> 6);
}

int32_t mn_font_draw(mn_font *font, const uint32_t *scalars, size_t count, int32_t x, int32_t y, uint8_t *coverage,
                     int32_t width, int32_t height) {
    FT_Face face = font->face;
    FT_Pos pen = (FT_Pos)x << 6;
    FT_UInt previous = 0;
    for (size_t i = 0; i < count; ++i) {
        FT_UInt glyph = FT_Get_Char_Index(face, scalars[i]);
        pen += kerning(face, previous, glyph);
        if (FT_Load_Glyph(face, glyph, FT_LOAD_RENDER)) return -1;
        const FT_GlyphSlot slot = face->glyph;
        const FT_Bitmap *bitmap = &slot->bitmap;
        if (bitmap->pixel_mode != FT_PIXEL_MODE_GRAY && bitmap->rows > 0) return -1;
        const int32_t left = (int32_t)((pen + 32) >> 6) + slot->bitmap_left;
        const int32_t top = y - slot->bitmap_top;
        for (uint32_t r = 0; r < bitmap->rows; ++r) {
            const int32_t row = top + (int32_t)r;
            if (row < 0 || row >= height) continue;
            const unsigned char *source = bitmap->buffer + (ptrdiff_t)r * bitmap->pitch;
            uint8_t *target = coverage + (size_t)row * (size_t)width;
            for (uint32_t c = 0; c < bitmap->width; ++c) {
                const int32_t column = left + (int32_t)c;
                if (column < 0 || column >= width) continue;
                if (source[c] > target[column]) target[column] = source[c];
            }
        }
        pen += slot->advance.x;
        previous = glyph;
    }
    return 0;
}
