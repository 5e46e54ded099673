// libFuzzer target over the shim's dataset reader and pixel decoder: the bytes
// are a (hostile) Part 10 file or raw data set; the target reads it through the C API exactly as
// the Swift side does (header, every top-level element as text and numbers, sequences one level
// down, pixel description, every frame decoded), and checks the API's own promises: a failure
// is a status with a NUL-terminated message, never a crash, hang or sanitizer report.
//
// Built by Scripts/fuzz with clang -fsanitize=fuzzer,address over the shim's sources; DCMTK and
// GDCM are the system's (uninstrumented) libraries, so ASan sees their heap use through its
// malloc/free/memcpy interceptors but coverage guides through the shim only.
#include "cdicom.h"

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <unistd.h>
#include <vector>

namespace {

/// The input as a file: the reader's API takes a path (/dev/shm keeps it in memory).
std::string writeInput(const uint8_t *data, size_t size) {
    static std::string path = "/dev/shm/mn-fuzz-" + std::to_string(getpid()) + ".dcm";
    FILE *f = std::fopen(path.c_str(), "wb");
    if (!f) std::abort();
    if (size && std::fwrite(data, 1, size, f) != size) std::abort();
    std::fclose(f);
    return path;
}

void checkError(mn_status status, const mn_error &err) {
    if (status == MN_OK) return;
    // The message must be a terminated string within its buffer.
    if (std::memchr(err.message, 0, sizeof(err.message)) == nullptr) std::abort();
}

void walk(mn_dataset *ds, int depth) {
    const size_t count = mn_dataset_element_count(ds);
    for (size_t i = 0; i < count && i < 4096; ++i) {
        uint32_t tag = 0;
        char vr[3] = {0};
        mn_error err{};
        if (mn_dataset_element_at(ds, i, &tag, vr, &err) != MN_OK) continue;
        char *text = nullptr;
        mn_status s = mn_dataset_get_string(ds, tag, &text, &err);
        checkError(s, err);
        mn_string_free(text);
        double values[16];
        size_t n = 0;
        checkError(mn_dataset_get_float64s(ds, tag, values, 16, &n, &err), err);
        size_t items = 0;
        if (depth < 2 && mn_dataset_sequence_count(ds, tag, &items, &err) == MN_OK) {
            for (size_t k = 0; k < items && k < 64; ++k) {
                mn_dataset *item = nullptr;
                if (mn_dataset_sequence_item(ds, tag, k, &item, &err) == MN_OK) {
                    walk(item, depth + 1);
                    mn_dataset_free(item);
                }
            }
        }
    }
}

} // namespace

extern "C" int LLVMFuzzerInitialize(int *, char ***) {
    mn_initialize(0);
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const std::string path = writeInput(data, size);
    for (int32_t headerOnly = 1; headerOnly >= 0; --headerOnly) {
        mn_dataset *ds = nullptr;
        mn_error err{};
        mn_status s = mn_dataset_open(path.c_str(), headerOnly, &ds, &err);
        checkError(s, err);
        if (s != MN_OK) return 0;
        walk(ds, 0);
        mn_pixel_info info{};
        if (!headerOnly && mn_dataset_pixel_info(ds, &info, &err) == MN_OK) {
            // Bound what one input may ask us to allocate (the node bounds instance size itself).
            const uint64_t samples =
                uint64_t(info.rows) * info.columns * (info.samples_per_pixel ? info.samples_per_pixel : 1);
            if (samples > 0 && samples <= (1u << 22)) {
                std::vector<int32_t> frame(samples);
                const uint32_t frames = info.number_of_frames ? info.number_of_frames : 1;
                for (uint32_t f = 0; f < frames && f < 8; ++f)
                    checkError(mn_dataset_decode_frame(ds, f, frame.data(), frame.size(), &err), err);
            }
        }
        mn_dataset_free(ds);
    }
    return 0;
}
