import DICOM
import Foundation
import Node
import SampleGenerator
import TestSupport
import Testing
import Volume

/// `mambanode samples mr` and `mr-study` from real anatomy (Colin27 from mricron-data, MNI152
/// from nilearn; both installed by Scripts/bootstrap), read back with `mambanode volume`.
@Suite struct SamplesMRCommandTests {
    static let colin = BrainTemplate.colin27Directory

    static func run(_ arguments: [String], environment: [String: String] = [:]) async throws -> ToolResult {
        try await runTool(BuiltProducts.mambanode, arguments, environment: environment)
    }

    static func correlation(_ a: [Double], _ b: [Double]) -> Double {
        let ma = a.reduce(0, +) / Double(a.count), mb = b.reduce(0, +) / Double(b.count)
        var sab = 0.0, saa = 0.0, sbb = 0.0
        for (x, y) in zip(a, b) {
            sab += (x - ma) * (y - mb)
            saa += (x - ma) * (x - ma)
            sbb += (y - mb) * (y - mb)
        }
        return sab / (saa * sbb).squareRoot()
    }

    static func dice(_ a: [Bool], _ b: [Bool]) -> Double {
        let both = zip(a, b).filter { $0 && $1 }.count
        return 2 * Double(both) / Double(a.filter { $0 }.count + b.filter { $0 }.count)
    }

    /// An oblique sagittal series of Colin27: the assembled volume is the template resampled
    /// onto its grid (correlation inside the brain), and the labels are ch2bet's brain there.
    @Test func colin27SeriesIsTheTemplateResampled() async throws {
        let dir = TemporaryDirectory("samples-mr")
        let series = dir.file("mr"), labels = dir.file("labels.nii.gz"), truth = dir.file("truth.json")
        let made = try await Self.run([
            "samples", "mr", series, "--source", "colin27", "--orientation", "sagittal",
            "--rotate", "12", "--size", "64", "--pixel-spacing", "3", "--slices", "50",
            "--spacing", "3.5", "--labels", labels, "--truth", truth
        ])
        try #require(made.status == 0, "\(made.errorOutput)")
        let assembled = try await Self.run(["volume", series, "--nifti", dir.file("volume.nii.gz")])
        try #require(assembled.status == 0, "\(assembled.errorOutput)")
        let volume = try NIfTI.read(contentsOf: dir.file("volume.nii.gz")),
            labelMap = try NIfTI.read(contentsOf: labels)
        #expect(labelMap.geometry == volume.geometry)
        #expect(volume.geometry.size == SIMD3(64, 64, 50))

        let source = try NIfTI.read(contentsOf: Self.colin + "/ch2.nii.gz").resampled(
            to: volume.geometry, interpolation: .linear)
        let brain = try NIfTI.read(contentsOf: Self.colin + "/ch2bet.nii.gz").resampled(
            to: volume.geometry, interpolation: .nearest
        )
        .voxels.map { $0 > 0 }
        let inside = brain.indices.filter { brain[$0] }
        try #require(inside.count > 1000)
        let r = Self.correlation(inside.map { Double(volume.voxels[$0]) }, inside.map { Double(source.voxels[$0]) })
        #expect(r > 0.99, "correlation \(r)")
        #expect(Self.dice(labelMap.voxels.map { $0 == 1 }, brain) > 0.99)
        #expect(Set(labelMap.voxels) == [0, 1])
        let json =
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: truth))) as! [String: Any]
        let brainVolume = try #require((json["volumes_mm3"] as? [String: Double])?["brain"])
        // ch2bet > 0 holds 1 737 193 voxels of 1 mm³.
        #expect(abs(brainVolume - 1_737_193) / 1_737_193 < 0.05, "\(brainVolume) mm³")

        // MR Image Storage as a scanner writes it: unsigned, no rescale, MR Image Module.
        let file = try #require(try FileManager.default.contentsOfDirectory(atPath: series).sorted().first)
        let ds = try DataSet.read(contentsOf: series + "/" + file)
        #expect(try ds.string(.sopClassUID) == "1.2.840.10008.5.1.4.1.1.4")
        #expect(try ds.string(.modality) == "MR" && ds.string(.scanningSequence) == "GR\\IR")
        #expect(try ds.int(.bitsAllocated) == 16 && ds.int(.pixelRepresentation) == 0)
        #expect(try ds.string(.rescaleSlope) == nil)
        let check = try ExternalTool.run("dciodvfy", [series + "/" + file])
        let errors = check.output.split(separator: "\n").filter { $0.hasPrefix("Error") }
        #expect(errors.isEmpty, "\(errors)")
    }

    @Test func mni152SeriesCarriesNilearnsBrainMask() async throws {
        let dir = TemporaryDirectory("samples-mni")
        let series = dir.file("mr"), labels = dir.file("labels.nii.gz")
        let made = try await Self.run([
            "samples", "mr", series, "--source", "mni152", "--size", "48", "--pixel-spacing", "4",
            "--slices", "40", "--spacing", "4.5", "--labels", labels
        ])
        try #require(made.status == 0, "\(made.errorOutput)")
        let assembled = try await Self.run(["volume", series, "--nifti", dir.file("volume.nii.gz")])
        try #require(assembled.status == 0, "\(assembled.errorOutput)")
        let volume = try NIfTI.read(contentsOf: dir.file("volume.nii.gz")),
            labelMap = try NIfTI.read(contentsOf: labels)
        #expect(labelMap.geometry == volume.geometry)
        let path = try BrainTemplate.findMNI152(roots: [GeneratedPaths.packageRoot])
        let template = try NIfTI.read(contentsOf: path)
        let peak = template.voxels.max()!
        let mask = template.resampled(to: volume.geometry, interpolation: .nearest).voxels.map { $0 > 0.2 * peak }
        #expect(Self.dice(labelMap.voxels.map { $0 == 1 }, mask) > 0.99)
        let inside = mask.indices.filter { mask[$0] }
        let source = template.resampled(to: volume.geometry, interpolation: .linear)
        let r = Self.correlation(inside.map { Double(volume.voxels[$0]) }, inside.map { Double(source.voxels[$0]) })
        #expect(r > 0.99, "correlation \(r)")
    }

    @Test func missingTemplateIsATypedErrorNamingTheFile() async throws {
        let dir = TemporaryDirectory("samples-missing")
        let result = try await Self.run(
            ["samples", "mr", dir.file("mr"), "--source", "mni152"],
            environment: ["MAMBANODE_MNI152": "/nonexistent/mni.nii.gz"])
        #expect(result.status == 1)
        #expect(
            result.errorOutput.contains("missingFile") && result.errorOutput.contains("/nonexistent/mni.nii.gz"),
            "\(result.errorOutput)")
        let nifti = try await Self.run(["samples", "mr", dir.file("mr"), "--nifti", dir.file("absent.nii.gz")])
        #expect(nifti.status == 1 && nifti.errorOutput.contains(dir.file("absent.nii.gz")))
    }

    /// Four series in one study and frame of reference, each filling its own channel of the
    /// brain-tumour route in Config/node.yaml; the tumour enhances only after contrast.
    @Test func mrStudyFillsTheBrainTumourRoute() async throws {
        let dir = TemporaryDirectory("samples-study")
        let study = dir.file("study"), labels = dir.file("labels.nii.gz"), truth = dir.file("truth.json")
        let made = try await Self.run([
            "samples", "mr-study", study, "--source", "colin27", "--seed", "3", "--size", "56",
            "--pixel-spacing", "3.5", "--slices", "44", "--spacing", "4",
            "--labels", labels, "--truth", truth
        ])
        try #require(made.status == 0, "\(made.errorOutput)")
        let found = try Series.scan(directory: study)
        try #require(found.count == 4)
        let first = found.map { $0.instances[0] }
        #expect(Set(first.map(\.studyInstanceUID)).count == 1)
        #expect(Set(first.map(\.frameOfReferenceUID)).count == 1)

        let configuration = try NodeConfiguration.load(from: GeneratedPaths.packageRoot + "/Config/node.yaml")
        let route = try #require(configuration.routes.first { $0.name == "brain-tumour" })
        var volumes: [String: Volume] = [:]
        for series in found {
            let file = series.instances[0].path
            let ds = try DataSet.read(contentsOf: file, headerOnly: true)
            let input = RoutingInput(dataSet: ds, tags: Router(routes: [route]).tagsOfInterest)
            #expect(Router(routes: [route]).route(for: input)?.name == "brain-tumour")
            let description = try ds.string(.seriesDescription) ?? ""
            let channel = try #require(Router.channel(of: route, for: input), "\(description)")
            #expect(volumes[channel.name] == nil, "two series fill \(channel.name)")
            volumes[channel.name] = try series.assemble().volume
        }
        #expect(Set(volumes.keys) == ["t1", "t1ce", "t2", "flair"])

        let labelMap = try NIfTI.read(contentsOf: labels)
        // One grid for all (NIfTI keeps the affine in float32: compare to 1e-3 mm).
        for volume in volumes.values {
            let (a, b) = (volume.geometry, labelMap.geometry)
            #expect(a.size == b.size)
            #expect(zip(a.indexToPatient.joined(), b.indexToPatient.joined()).allSatisfy { abs($0 - $1) < 1e-3 })
        }
        #expect(Set(labelMap.voxels) == [0, 1, 2, 3])
        func mean(_ channel: String, label: Float) -> Double {
            let values = zip(volumes[channel]!.voxels, labelMap.voxels).filter { $0.1 == label }.map { Double($0.0) }
            return values.reduce(0, +) / Double(values.count)
        }
        #expect(mean("t1ce", label: 3) > 1.5 * mean("t1", label: 3), "enhancing tumour enhances")
        #expect(mean("flair", label: 2) > 1.5 * mean("flair", label: 0), "edema is bright on FLAIR")
        let json =
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: truth))) as! [String: Any]
        #expect(json["labels"] as? [String: String] == ["1": "necrotic core", "2": "edema", "3": "enhancing tumour"])
        #expect(json["series"] as? [String: String] == ["T1": "T1", "T1CE": "T1CE", "T2": "T2", "FLAIR": "FLAIR"])
    }
}

enum GeneratedPaths {
    /// The package root (for Config/ and the .venv that bootstrap makes).
    static var packageRoot: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().path
    }
}
