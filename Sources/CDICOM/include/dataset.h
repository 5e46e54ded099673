// The mn_dataset handle: a (possibly borrowed) view of a DcmItem that keeps its file alive.
#ifndef MAMBANODE_SHIM_DATASET_H
#define MAMBANODE_SHIM_DATASET_H

#include "shim_internal.h"

#include <memory>
#include <vector>

namespace mn {

/// What one read file or created dataset owns. Item views share it through a shared_ptr, so an
/// item may outlive the handle it was taken from.
struct DatasetRoot {
    DcmFileFormat file;
    std::string path; // empty for created datasets
    bool headerOnly = false;
    // Pixel decoding state (pixels.cpp): compressed data are decoded once per root.
    bool decoded = false;
    std::vector<uint8_t> gdcmPixels; // JPEG 2000 frames decoded by GDCM (DCMTK cannot)
    bool usesGdcm = false;
    uint32_t decodedPlanar = 0;
};

} // namespace mn

struct mn_dataset {
    std::shared_ptr<mn::DatasetRoot> root;
    DcmItem *item; // root->file.getDataset() or an item inside it

    const char *pathForMessages() const { return root->path.empty() ? "dataset" : root->path.c_str(); }
};

#endif
