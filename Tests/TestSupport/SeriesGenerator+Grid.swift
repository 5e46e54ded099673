import DICOM
import DICOMObjects
import Foundation
import SampleGenerator

extension SeriesGenerator {
    /// The ``SourceImageGrid`` of a written series (files in slice order), as the Volume module
    /// will produce it: UIDs read back from the files, geometry from the generator.
    public func grid(of written: Written) throws -> SourceImageGrid {
        let frames = try written.files.enumerated().map { k, path in
            let ds = try DataSet.read(contentsOf: path, headerOnly: true)
            return SourceFrame(
                sopClassUID: try ds.requiredString(.sopClassUID),
                sopInstanceUID: try ds.requiredString(.sopInstanceUID),
                position: position(ofSlice: k))
        }
        return try SourceImageGrid(
            rows: rows, columns: columns, rowDirection: rowDirection, columnDirection: columnDirection,
            pixelSpacing: pixelSpacing, sliceThickness: sliceSpacing, spacingBetweenSlices: sliceSpacing,
            frames: frames, referencePath: written.files[0])
    }
}
