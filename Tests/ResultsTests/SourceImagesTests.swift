import DICOM
import Results
import TestSupport
import Testing
import Volume

/// The SEG's source grid from an assembled volume, and the volumes that are not on one.
@Suite struct SourceImagesTests {
    @Test func gridOfNonSquarePixelsPutsRowSpacingFirst() throws {
        let source = try GeneratedSource(.nonSquarePixels)
        let images = try SourceImages(volume: source.volume, series: source.series)
        let g = source.generator, grid = images.grid
        #expect(grid.rows == 40 && grid.columns == 48 && grid.sliceCount == 12)
        #expect(grid.pixelSpacing.row == 4 && grid.pixelSpacing.column == 6.5)
        #expect(grid.rowDirection == g.rowDirection && grid.columnDirection == g.columnDirection)
        #expect(grid.spacingBetweenSlices == 10)
        for (k, frame) in grid.frames.enumerated() {
            #expect(length(frame.position - g.position(ofSlice: k)) < 1e-6)
            #expect(frame.frameNumber == nil)
        }
        #expect(Set(grid.frames.map(\.sopInstanceUID)).count == 12)
        #expect(images.files.count == 12)
        #expect(images.frameOfReferenceUID == source.written.frameOfReferenceUID)
        #expect(images.modality == "CT")
    }

    @Test func gridOfReversedEnhancedSourceReferencesFrameNumbers() throws {
        let source = try GeneratedSource(.enhancedCT)
        let images = try SourceImages(volume: source.volume, series: source.series)
        // Frames were written last slice first, so slice k is frame 12 − k.
        #expect(images.grid.frames.map(\.frameNumber) == (1...12).reversed().map { $0 })
        #expect(images.files == source.written.files)
        for (k, frame) in images.grid.frames.enumerated() {
            #expect(length(frame.position - source.generator.position(ofSlice: k)) < 1e-6)
        }
    }

    @Test func refusesResampledVolume() throws {
        let source = try GeneratedSource(.axialCT)
        let resampled = source.volume.resampled(
            to: source.volume.geometry.withSpacing(SIMD3(5, 5, 5)), interpolation: .nearest)
        #expect {
            try SourceImages(volume: resampled, series: source.series)
        } throws: { ($0 as? ResultsError)?.code == .noSourceReferences }
        // A volume read from NIfTI has no source references either.
        let fromNIfTI = try NIfTI.read(contentsOf: source.writeLabels())
        #expect {
            try SourceImages(volume: fromNIfTI, series: source.series)
        } throws: { ($0 as? ResultsError)?.code == .noSourceReferences }
    }

    @Test func refusesReorientedVolume() throws {
        // Rows run right to left and columns anterior-ward; the normal still points up, so
        // reorientation flips i and j but keeps the slice axis, and with it the slice
        // references. The grid is no longer the source's.
        var generator = SourceKind.axialCT.generator
        generator.rowDirection = SIMD3(-1, 0, 0)
        generator.columnDirection = SIMD3(0, -1, 0)
        generator.slices = 4
        let source = try GeneratedSource(generator)
        let reoriented = source.volume.reoriented()
        try #require(!reoriented.sources.isEmpty)
        #expect {
            try SourceImages(volume: reoriented, series: source.series)
        } throws: { error in
            let error = error as? ResultsError
            return error?.code == .notSourceGrid && error?.tag == .imageOrientationPatient
        }
    }

    @Test func refusesCroppedVolume() throws {
        // The last 8 columns cut off: every slice origin still matches, the matrix does not.
        let source = try GeneratedSource(.axialCT)
        var geometry = source.volume.geometry
        geometry.size.x -= 8
        #expect {
            try SourceImages(geometry: geometry, sources: source.volume.sources, series: source.series)
        } throws: { error in
            let error = error as? ResultsError
            return error?.code == .notSourceGrid && error?.tag == .columns
                && error?.message.contains("40 columns") == true
        }
    }

    @Test func refusesGantryTiltCorrectedVolume() throws {
        var generator = SourceKind.axialCT.generator
        generator.gantryTiltDegrees = 12
        let source = try GeneratedSource(generator)
        #expect {
            try SourceImages(volume: source.volume, series: source.series)
        } throws: { error in
            let error = error as? ResultsError
            return error?.code == .gantryTilt && error?.tag == .gantryDetectorTilt
                && error?.seriesInstanceUID == source.written.seriesInstanceUID
        }
    }

    @Test func refusesVolumeOfAnotherSeries() throws {
        let first = try GeneratedSource(.axialCT)
        let second = try GeneratedSource(.axialCT)
        #expect {
            try SourceImages(volume: first.volume, series: second.series)
        } throws: { ($0 as? ResultsError)?.code == .sourceNotFound }
        var unnamed = first.volume
        unnamed.seriesInstanceUID = nil
        #expect {
            try SourceImages(volume: unnamed, series: second.series)
        } throws: { error in
            let error = error as? ResultsError
            return error?.code == .sourceNotFound && error?.sopInstanceUID == first.volume.sources[0].sopInstanceUID
        }
    }
}

private func length(_ v: SIMD3<Double>) -> Double { (v * v).sum().squareRoot() }
