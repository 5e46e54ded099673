import Foundation
import NNMamba
import TestSupport
import Testing
import Volume

/// `mambanode models verify` and `mambanode infer`, run as the
/// built binary.
@Suite struct InferenceCommandTests {
    /// A small synthetic package (one 16³ patch keeps the forward pass short).
    static func synthetic() -> TestModelPackage {
        TestModelPackage.syntheticSegmentation(classes: 3, targetSpacing: [2, 2, 2], patchSize: [16, 16, 16])
    }

    @Test func verifyPrintsTheSummaryOfAValidPackage() async throws {
        let dir = TemporaryDirectory("model")
        try Self.synthetic().write(to: dir.path)
        let result = try await runTool(BuiltProducts.mambanode, ["models", "verify", dir.path])
        #expect(result.status == 0, "\(result.errorOutput)")
        for line in [
            "task: segmentation", "network: nnMambaSeg in_channels 1, channels 16, blocks 2, outputs 3",
            "parameters: ", "input 0: channel0, normalization ct clip [-1000, 1000] mean 0 std 500",
            "label 2: Class 2", "algorithm: MambaNode test segmentation 0.0",
            "input layout: LPS, sitk_kji (the default of mambanode-model/1)",
            "forward pass: [1, 1, 16, 16, 16] -> [1, 3, 16, 16, 16]", "OK"
        ] {
            #expect(result.output.contains(line), "missing '\(line)' in\n\(result.output)")
        }
    }

    /// Broken packages, each with what the error must name.
    static let mistakes: [(name: String, expected: String, change: @Sendable (inout TestModelPackage) -> Void)] = [
        (
            "renamed key", "in_conv.conv.0.weight",
            { p in
                let t = p.weights!.removeValue(forKey: "in_conv.conv.0.weight")!
                p.weights!["in_conv.conv.0.kernel"] = t
            }
        ),
        (
            "wrong shape", "layer2.0.conv1.weight",
            { p in
                p.weights!["layer2.0.conv1.weight"] = Tensor(zeros: [64, 32, 1, 1, 1])
            }
        ),
        ("unexpected key", "extra.weight", { p in p.weights!["extra.weight"] = Tensor(zeros: [2]) }),
        (
            "declared network", "in_conv.conv.0.weight",
            { p in
                p.manifest["network"] = [
                    "architecture": "nnMambaSeg", "in_channels": 1, "channels": 32, "blocks": 2, "outputs": 3
                ]
            }
        ),
        ("manifest field", "target_spacing", { p in p.manifest["target_spacing"] = [2, -1, 2] }),
        // Format 2 (what the exporters write) must say which array the weights were trained on.
        ("no input layout", "input_layout", { p in p.manifest["format"] = "mambanode-model/2" })
    ]

    @Test(arguments: 0..<mistakes.count)
    func verifyRejectsABrokenPackageNamingTheKeyOrField(index: Int) async throws {
        let (name, expected, change) = Self.mistakes[index]
        var package = Self.synthetic()
        change(&package)
        let dir = TemporaryDirectory("model")
        try package.write(to: dir.path)
        let result = try await runTool(BuiltProducts.mambanode, ["models", "verify", dir.path])
        #expect(result.status != 0, "\(name): exited 0")
        #expect(result.errorOutput.contains(expected), "\(name): \(result.errorOutput)")
        #expect(!result.output.contains("OK"))
    }

    /// A NIfTI made here through a synthetic-weights package: the label map comes back on the
    /// input's grid (same affine) with labels of the model's classes.
    @Test func inferWritesALabelMapOnTheInputGrid() async throws {
        let dir = TemporaryDirectory("infer")
        let model = try Self.synthetic().write(to: try dir.subdirectory("model"))
        let grid = Geometry(
            size: SIMD3(22, 19, 9), spacing: SIMD3(1.4, 1.6, 3),
            origin: SIMD3(-20, 35, -12),
            direction: Matrix3(columns: SIMD3(0.96, 0.28, 0), SIMD3(-0.28, 0.96, 0), SIMD3(0, 0, -1)))
        var image = Volume(geometry: grid)
        for k in 0..<grid.size.z {
            for j in 0..<grid.size.y {
                for i in 0..<grid.size.x {
                    image[i, j, k] = Float((i * 37 + j * 11 + k * 101) % 400) - 200
                }
            }
        }
        let input = dir.file("ct.nii.gz"), output = dir.file("labels.nii.gz")
        try NIfTI.write(image, to: input)
        let result = try await runTool(
            BuiltProducts.mambanode,
            [
                "infer", "--model", model, "--input", input,
                "--output", output, "--threads", "2"
            ])
        #expect(result.status == 0, "\(result.errorOutput)")
        let written = try NIfTI.read(contentsOf: input)
        let labels = try NIfTI.read(contentsOf: output)
        #expect(labels.geometry.size == written.geometry.size)
        for (a, b) in zip(labels.geometry.indexToRAS.joined(), written.geometry.indexToRAS.joined()) {
            #expect(abs(a - b) < 1e-4, "affine \(labels.geometry.indexToRAS) vs \(written.geometry.indexToRAS)")
        }
        #expect(labels.voxels.allSatisfy { [0, 1, 2].contains($0) })
        let report = try JSONSerialization.jsonObject(with: Data(result.output.utf8)) as? [String: Any]
        #expect(report?["task"] as? String == "segmentation")
        #expect((report?["voxels_per_label"] as? [String: Int])?.values.reduce(0, +) == grid.voxelCount)
    }

    /// Classification prints its result as JSON and writes no file.
    @Test func inferPrintsAClassificationAsJSON() async throws {
        let dir = TemporaryDirectory("infer")
        let model = try TestModelPackage.goldenClassification().write(to: try dir.subdirectory("model"))
        let input = try SafeTensorsFile(path: TestModelPackage.goldenRoot + "/cls/input.safetensors").tensor("input")
        let logit = try SafeTensorsFile(path: TestModelPackage.goldenRoot + "/cls/output.safetensors").tensor("output")[
            0]
        let grid = Geometry(
            size: SIMD3(input.shape[4], input.shape[3], input.shape[2]), spacing: SIMD3(1, 1, 1),
            origin: .zero, direction: .identity)
        try NIfTI.write(Volume(geometry: grid, voxels: input.values), to: dir.file("in.nii"), as: .float32)
        let result = try await runTool(
            BuiltProducts.mambanode, ["infer", "--model", model, "--input", dir.file("in.nii")])
        #expect(result.status == 0, "\(result.errorOutput)")
        let report = try #require(try JSONSerialization.jsonObject(with: Data(result.output.utf8)) as? [String: Any])
        #expect(report["task"] as? String == "classification")
        let probability = try #require(report["probability"] as? Double)
        #expect(abs(probability - 1 / (1 + exp(-Double(logit)))) < 1e-4)
        #expect(report["finding"] as? String != nil)
    }

    /// `--raw-output` writes exactly what the network saw and its raw output: the golden `seg`
    /// input as four NIfTI channels (canonical, at the target spacing, one patch, no
    /// normalisation) comes back unchanged as `input`, and `output` is the golden reference.
    @Test func inferRawOutputIsTheNetworkOutputOnThePreparedInput() async throws {
        let dir = TemporaryDirectory("infer")
        let model = try TestModelPackage.goldenSegmentation().write(to: try dir.subdirectory("model"))
        let golden = TestModelPackage.goldenRoot + "/seg"
        let input = try SafeTensorsFile(path: golden + "/input.safetensors").tensor("input")
        let reference = try SafeTensorsFile(path: golden + "/output.safetensors").tensor("output")
        let (c, d, h, w) = (input.shape[1], input.shape[2], input.shape[3], input.shape[4])
        let grid = Geometry(size: SIMD3(w, h, d), spacing: SIMD3(1, 1, 1), origin: .zero, direction: .identity)
        var arguments = [
            "infer", "--model", model, "--output", dir.file("labels.nii"), "--threads", "2",
            "--raw-output", dir.file("raw.safetensors")
        ]
        let values = input.values
        for channel in 0..<c {
            let voxels = Array(values[(channel * d * h * w)..<((channel + 1) * d * h * w)])
            try NIfTI.write(Volume(geometry: grid, voxels: voxels), to: dir.file("in\(channel).nii"), as: .float32)
            arguments += ["--input", dir.file("in\(channel).nii")]
        }
        let result = try await runTool(BuiltProducts.mambanode, arguments)
        #expect(result.status == 0, "\(result.errorOutput)")
        let raw = try SafeTensorsFile(path: dir.file("raw.safetensors"))
        let seen = try raw.tensor("input"), output = try raw.tensor("output")
        #expect(seen.shape == input.shape)
        #expect(seen.values == values)
        #expect(output.shape == reference.shape)
        let scale = max(1, reference.values.map(abs).max() ?? 0)
        let error = zip(output.values, reference.values).map { abs($0 - $1) }.max() ?? .infinity
        #expect(error <= 1e-4 * scale, "max |raw − golden| \(error), tolerance \(1e-4 * scale)")
    }

    @Test func inferRejectsARawOutputThatIsNotSafetensors() async throws {
        let result = try await runTool(
            BuiltProducts.mambanode,
            [
                "infer", "--model", "m", "--input", "x.nii",
                "--raw-output", "raw.bin"
            ])
        #expect(result.status != 0)
        #expect(result.errorOutput.contains("--raw-output must end in .safetensors"))
    }

    /// `models create-untrained --modality MR [--inputs …]`: packages for the MR brain
    /// samples and for a study-level route with one channel per input; `models verify` reads them.
    @Test func createUntrainedMakesMRPackagesThatVerify() async throws {
        let dir = TemporaryDirectory("untrained-mr")
        let cases: [(arguments: [String], lines: [String])] = [
            (
                ["--modality", "MR"],
                [
                    "input 0: mr (MR), normalization zscore", "label 1: Brain", "in_channels 1",
                    "input layout: LPS, sitk_kji\n"
                ]
            ),
            (
                ["--modality", "MR", "--inputs", "t1,t1ce,t2,flair"],
                [
                    "input 3: flair (MR), normalization zscore", "label 3: Enhancing tumour", "in_channels 4",
                    "forward pass: [1, 4, 16, 16, 16]"
                ]
            )
        ]
        for (index, c) in cases.enumerated() {
            let path = dir.file("model\(index)")
            let made = try await runTool(
                BuiltProducts.mambanode, ["models", "create-untrained", path, "--patch", "16"] + c.arguments)
            #expect(made.status == 0, "\(made.errorOutput)")
            let verified = try await runTool(BuiltProducts.mambanode, ["models", "verify", path])
            #expect(verified.status == 0, "\(verified.errorOutput)")
            for line in c.lines + ["OK"] {
                #expect(verified.output.contains(line), "missing '\(line)' in\n\(verified.output)")
            }
        }
        let ct = try await runTool(
            BuiltProducts.mambanode, ["models", "create-untrained", dir.file("bad"), "--inputs", "a,b"])
        #expect(ct.status != 0 && ct.errorOutput.contains("a CT package has one input"), "\(ct.errorOutput)")
    }
}
