/*
 * ctext.h — text rasterised by FreeType, for annotations burned into Secondary Capture images.
 *
 * A font is opened at a pixel size; text is drawn as 8-bit coverage (0 = none, 255 = full) into a
 * caller-owned mask, which the caller blends in the colour it wants. Text comes as Unicode scalar
 * values, so no UTF-8 decoding happens here. A font is not thread-safe: use it from one thread.
 */
#ifndef MAMBANODE_CTEXT_H
#define MAMBANODE_CTEXT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mn_font mn_font;

/* Opens the font file (TrueType/OpenType) at `pixel_height` pixels per em. NULL on failure, with
 * a NUL-terminated reason in `error` (at most `error_capacity` bytes). */
mn_font *mn_font_open(const char *path, uint32_t pixel_height, char *error, size_t error_capacity);

/* Releases a font; NULL is accepted. */
void mn_font_free(mn_font *font);

/* Line metrics in whole pixels: ascent above and descent below the baseline (both positive), and
 * the distance between baselines. */
void mn_font_metrics(const mn_font *font, int32_t *ascent, int32_t *descent, int32_t *line_height);

/* The advance width in pixels of the text (kerning applied); characters the font lacks count as
 * its missing-glyph box. */
int32_t mn_font_measure(mn_font *font, const uint32_t *scalars, size_t count);

/* Draws the text with its baseline starting at (x, y) into `coverage` (width × height bytes, row
 * by row), keeping the larger coverage where glyphs overlap what is there; clipped to the mask.
 * Returns 0, or -1 when FreeType cannot render a glyph. */
int32_t mn_font_draw(mn_font *font, const uint32_t *scalars, size_t count, int32_t x, int32_t y, uint8_t *coverage,
                     int32_t width, int32_t height);

#ifdef __cplusplus
}
#endif

#endif /* MAMBANODE_CTEXT_H */
