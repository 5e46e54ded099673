// swift-tools-version: 6.1
// MambaNode: a DICOM-native clinical AI node (receive → volume → nnMamba → SEG/SR → PACS).
// Targets, lowest first (docs/architecture.md, Modules; README.md, Modules), dependencies pointing
// one way:
//   C shim over DCMTK/GDCM .. CDICOM (data, pixels), CDICOMNetwork (SCP/SCU, TLS), CDICOMObjects (SEG, SR)
//   DICOM ................... DICOM, DICOMNetwork, DICOMObjects (Swift over each shim part)
//   images and engine ....... CNIfTI, Volume; COpenBLAS, CNNKernels, NNMamba; ModelPackage
//   results and pipeline .... Results (SEG/SR content), Pipeline (volumes → engine → SEG/SR files)
//   the node ................ Node (configuration, store, lifecycles, routing, jobs, outbox, HTTP, audit)
//   command line ............ ToolCommands (offline; no Node), NodeCommands, DeveloperCommands, mambanode
//   developer and tests ..... DeveloperTools, SeededRandom, SampleGenerator, VolumeFuzz, TestSupport,
//                             and the test targets
// The engine never sees DICOM; the offline path (Pipeline, ToolCommands) never links the node's
// database or HTTP server; Scripts/check-architecture (make lint) checks these rules.
import PackageDescription

// DCMTK is linked library by library: `pkg-config dcmtk` fails on Debian 12 (it wants sndfile).
// The shim follows DCMTK's own split, so that each target links only what it uses: data sets and
// pixels (codecs, GDCM for JPEG 2000); networking and TLS; SEG and SR objects.
let dcmtkDataLibraries = [
    "dcmdata", "oflog", "ofstd",
    "dcmjpeg", "ijg8", "ijg12", "ijg16", "dcmjpls", "dcmtkcharls", "dcmimgle", "dcmimage",
]
let gdcmLibraries = ["gdcmMSFF", "gdcmDSED", "gdcmCommon"]
let dcmtkNetworkLibraries = ["dcmnet", "dcmtls", "ssl", "crypto"]
let dcmtkObjectLibraries = ["dcmseg", "dcmfg", "dcmiod", "dcmsr", "cmr", "dcmpstat", "dcmrt"]
let shimFlags: [CXXSetting] = [.unsafeFlags(["-std=c++17", "-fexceptions"])]

let package = Package(
    name: "MambaNode",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "mambanode", targets: ["mambanode"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.0.0"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.0.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.6.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.0.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.0.0"),
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.0"),
    ],
    targets: [
        // The only code that includes DCMTK/GDCM headers: C APIs over a C++17 shim, in DCMTK's
        // lines (docs/architecture.md, Modules). Each Swift module above wraps one of them.
        .target(
            name: "CDICOM",
            cxxSettings: [.unsafeFlags(["-I/usr/include/gdcm-3.0", "-std=c++17", "-fexceptions"])],
            linkerSettings: (dcmtkDataLibraries + gdcmLibraries + ["z"]).map { .linkedLibrary($0) }
        ),
        .target(
            name: "CDICOMNetwork", dependencies: ["CDICOM"], cxxSettings: shimFlags,
            linkerSettings: dcmtkNetworkLibraries.map { .linkedLibrary($0) }
        ),
        .target(
            name: "CDICOMObjects", dependencies: ["CDICOM"], cxxSettings: shimFlags,
            linkerSettings: dcmtkObjectLibraries.map { .linkedLibrary($0) }
        ),
        // DICOM data: data sets, tags, UIDs, pixel data, the instance store.
        .target(name: "DICOM", dependencies: ["CDICOM"]),
        // DICOM networking: storage SCP and SCU, DICOM TLS (PS3.7, PS3.8, PS3.15 B.9).
        .target(name: "DICOMNetwork", dependencies: ["DICOM", "CDICOMNetwork"]),
        // DICOM objects the node writes: Segmentation and TID 1500 Structured Reports.
        .target(name: "DICOMObjects", dependencies: ["DICOM", "CDICOMObjects"]),

        // Volume assembly (docs/volume-reconstruction.md): Instance → Series → stacks → Volume in LPS;
        // NIfTI through niftilib. niftilib's headers include <znzlib.h> from /usr/include/nifti, so a
        // small C API wraps them and Swift never sees the nifti headers.
        .target(
            name: "CNIfTI",
            cSettings: [.unsafeFlags(["-I/usr/include/nifti"])],
            linkerSettings: ["nifti2", "znz", "m", "z"].map { .linkedLibrary($0) }
        ),
        .target(name: "Volume", dependencies: ["DICOM", "CNIfTI"]),

        // The nnMamba engine: Tensor, ops, Mamba, networks, weights. No DICOM.
        .systemLibrary(name: "COpenBLAS", pkgConfig: "openblas"),
        .target(
            name: "CNNKernels",
            cSettings: [.unsafeFlags(["-O3", "-ffast-math", "-fno-finite-math-only"])]
        ),
        .target(
            name: "NNMamba",
            dependencies: ["COpenBLAS", "CNNKernels"],
            swiftSettings: [.unsafeFlags(["-Ounchecked"])]
        ),

        // Model packages (docs/model-package.md): model.json, weights, model card. Plain values, no DICOM.
        .target(name: "ModelPackage"),

        // Text burned into Secondary Capture overlays: FreeType behind a small C API (a Debian
        // font, fonts-dejavu-core; docs/results.md, Secondary Capture).
        .target(
            name: "CText", cSettings: [.unsafeFlags(["-I/usr/include/freetype2"])],
            linkerSettings: [.linkedLibrary("freetype")]
        ),

        // Results (docs/results.md): model outputs on a source Volume grid → SEG, TID 1500 SR,
        // RT Structure Set, presentation state, Secondary Capture overlays and Key Objects,
        // driven by the model package's labels, landmarks and classification.
        .target(name: "Results", dependencies: ["DICOM", "DICOMObjects", "Volume", "ModelPackage", "CText"]),

        // One model on source series: volumes → preprocessing → engine → postprocessing → SEG/SR
        // files (docs/inference.md). Used by the node's jobs and by `mambanode process`; no
        // database, no network.
        .target(name: "Pipeline", dependencies: ["DICOM", "DICOMObjects", "Volume", "NNMamba", "ModelPackage", "Results"]),

        // The node: configuration, durable state, lifecycle, router, jobs, outbox, sender, HTTP.
        .target(
            name: "Node",
            dependencies: [
                "DICOM", "DICOMNetwork", "DICOMObjects", "Volume", "NNMamba", "ModelPackage", "Results", "Pipeline",
                .product(name: "Yams", package: "Yams"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
            ]
        ),

        // The command line, in three groups the `mambanode` executable puts together:
        // offline tools (process, encode, volume, infer, dump, send/receive, models verify,
        // conformance) that do not link the node; the node's own commands (serve, status, routes,
        // retry); and developer commands (bench, samples, golden, models create-untrained).
        .target(
            name: "ToolCommands",
            dependencies: [
                "DICOM", "DICOMNetwork", "DICOMObjects", "Volume", "NNMamba", "ModelPackage", "Results", "Pipeline",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .target(
            name: "NodeCommands",
            dependencies: [
                "DICOM", "DICOMNetwork", "Node", "ToolCommands",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .target(
            name: "DeveloperCommands",
            dependencies: [
                "DICOM", "DICOMNetwork", "DICOMObjects", "Volume", "NNMamba", "ModelPackage", "Results", "Pipeline", "Node",
                "SampleGenerator", "DeveloperTools",
                "ToolCommands", "COpenBLAS",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .executableTarget(
            name: "mambanode",
            dependencies: [
                "NNMamba", "ToolCommands", "NodeCommands", "DeveloperCommands",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),

        // A seeded generator, so that samples, synthetic weights and test data repeat exactly.
        .target(name: "SeededRandom"),

        // Developer tools over the engine: golden fixture runner (Tests/Fixtures/golden) and
        // synthetic weights for benchmarks, tests and untrained packages. Not used by the node.
        .target(name: "DeveloperTools", dependencies: ["NNMamba", "SeededRandom"]),

        // Generated sample series (phantoms with exact ground truth) for tests, demo and benchmarks.
        // Volume: real anatomy (NIfTI templates) is sampled, and label maps are laid on assembled grids.
        .target(name: "SampleGenerator", dependencies: ["DICOM", "Volume", "SeededRandom"], path: "Samples/Generator"),

        // Fuzz target over metadata extraction and volume assembly (Scripts/fuzz volume builds it
        // with -sanitize=fuzzer and -DFUZZING; otherwise it replays inputs given as arguments).
        .executableTarget(name: "VolumeFuzz", dependencies: ["Volume"], path: "Fuzz/VolumeFuzz"),

        .target(name: "TestSupport", dependencies: ["DICOM", "DICOMNetwork", "DICOMObjects", "SampleGenerator", "NNMamba", "DeveloperTools", "SeededRandom"],
                path: "Tests/TestSupport"),
        .testTarget(name: "DICOMTests", dependencies: ["DICOM", "DICOMNetwork", "DICOMObjects", "TestSupport"]),
        .testTarget(name: "NNMambaTests", dependencies: ["NNMamba", "DeveloperTools", "SeededRandom"]),
        .testTarget(name: "SampleGeneratorTests", dependencies: ["SampleGenerator", "Volume", "Node", "TestSupport"]),
        .testTarget(name: "VolumeTests", dependencies: ["Volume", "VolumeFuzz", "TestSupport", "SeededRandom"]),
        .testTarget(name: "ModelPackageTests", dependencies: ["ModelPackage", "TestSupport"]),
        .testTarget(name: "ResultsTests", dependencies: ["Results", "DICOMObjects", "TestSupport"]),
        .testTarget(name: "PipelineTests", dependencies: ["Pipeline", "TestSupport"]),
        // HTTP is tested live on loopback: HummingbirdTesting would pull AsyncHTTPClient and BoringSSL into CI.
        .testTarget(name: "NodeTests", dependencies: [
            "Node", "Pipeline", "DICOMNetwork", "TestSupport",
            .product(name: "Hummingbird", package: "hummingbird"),
        ]),
    ],
    swiftLanguageModes: [.v6],
    cxxLanguageStandard: .cxx17
)
