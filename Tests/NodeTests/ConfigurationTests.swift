import DICOM
import Foundation
import Testing

@testable import Node

@Suite struct ConfigurationTests {
    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path

    @Test func shippedExampleParses() throws {
        let configuration = try NodeConfiguration.load(from: Self.packageRoot + "/Config/node.yaml")
        #expect(configuration.listener.aeTitle.value == "MAMBANODE")
        #expect(configuration.listener.allowedCallingAETitles.map(\.value) == ["CT01", "MR01", "ORTHANC"])
        #expect(configuration.sending == .init(firstRetry: 30, maximumRetry: 600, giveUpAfter: 86400, jitter: 0.2))
        #expect(configuration.routes.map(\.name) == ["ct-abdomen", "mr-brain", "brain-tumour"])
        let brain = try #require(configuration.routes.first { $0.name == "brain-tumour" })
        #expect(brain.level == .study)
        #expect(brain.channels.map(\.name) == ["t1", "t1ce", "t2", "flair"])
        #expect(brain.quietTime == 120)
        #expect(configuration.destination(named: "pacs")?.callingAETitle.value == "MAMBANODE")
        #expect(configuration.routes.first?.models == ["ct-classify", "ct-organs", "ct-landmarks"])
    }

    /// The demo's configuration routes CT to the shipped sample models, and each is in the checkout.
    @Test func shippedDemoConfigurationRoutesTheSampleModels() throws {
        let configuration = try NodeConfiguration.load(from: Self.packageRoot + "/Config/demo.yaml")
        let route = try #require(configuration.routes.first)
        #expect(route.models == ["ct-classify", "ct-organs", "ct-landmarks"])
        for name in route.models {
            let folder = try #require(configuration.models[name])
            #expect(
                FileManager.default.fileExists(atPath: Self.packageRoot + "/" + folder + "/model.json"), "\(folder)")
        }
    }

    @Test func defaultsApplyWhereTheFileIsSilent() throws {
        let configuration = try NodeConfiguration.parse("")
        #expect(configuration.listener.maxAssociations == 8)
        #expect(configuration.listener.acseTimeout == 30 && configuration.listener.dimseTimeout == 60)
        #expect(configuration.listener.acceptAnyCallingAE == false)
        #expect(configuration.http.bindAddress == "127.0.0.1")
        #expect(configuration.routes.isEmpty)
        #expect(configuration.unroutedQuietTime == 45)
    }

    @Test func listenerTimeoutsAreRead() throws {
        let configuration = try NodeConfiguration.parse("node: { acse_timeout: 5s, dimse_timeout: 2m }")
        #expect(configuration.listener.acseTimeout == 5 && configuration.listener.dimseTimeout == 120)
    }

    @Test func unroutedQuietTimeIsReadAndReachesTheRouter() throws {
        let configuration = try NodeConfiguration.parse("unrouted_quiet_time: 3s")
        #expect(configuration.unroutedQuietTime == 3 && Router(configuration).unroutedQuietTime == 3)
    }

    @Test func routeImageTypesAreRead() throws {
        let configuration = try NodeConfiguration.parse(
            """
            destinations: [{ name: p, ae_title: P, host: h, port: 104 }]
            models: { m: /m }
            routes: [{ name: r, model: m, destinations: [p], image_types: [ORIGINAL] }, { name: s, model: m, destinations: [p] }]
            """)
        #expect(configuration.routes.map(\.imageTypes) == [["ORIGINAL"], nil])
    }

    @Test func overlaysAreRead() throws {
        #expect(try NodeConfiguration.parse("").overlays == NodeConfiguration.Overlays())
        let configuration = try NodeConfiguration.parse("overlays: { slices: all, fill_opacity: 0.3 }")
        #expect(configuration.overlays.allSlices && configuration.overlays.fillOpacity == 0.3)
    }

    @Test func routesAreOrderedByPriorityThenFileOrder() throws {
        let configuration = try NodeConfiguration.parse(
            """
            destinations: [{ name: p, ae_title: P, host: localhost, port: 104 }]
            models: { m: /tmp/m }
            routes:
              - { name: low, model: m, destinations: [p] }
              - { name: high, priority: 3, model: m, destinations: [p] }
              - { name: low2, model: m, destinations: p }
            """)
        #expect(configuration.routes.map(\.name) == ["high", "low", "low2"])
    }

    /// Each bad value is refused with the key path (and line) that names it.
    @Test(arguments: [
        ("node: { ae_tittle: X }", "node.ae_tittle", "unknown key"),
        ("node: { port: 70000 }", "node.port", "not in 1…65535"),
        ("node: { acse_timeout: 1.5s }", "node.acse_timeout", "whole number of seconds"),
        ("node: { dimse_timeout: 2h }", "node.dimse_timeout", "between 1 s and 1 h"),
        ("node: { ae_title: THIS_IS_WAY_TOO_LONG }", "node.ae_title", "not an AE title"),
        ("sending: { first_retry: soon }", "sending.first_retry", "not a duration"),
        ("uid_root: 1.2.x", "uid_root", "not a valid UID root"),
        ("unrouted_quiet_time: 0s", "unrouted_quiet_time", "greater than zero"),
        ("overlays: { slices: some }", "overlays.slices", "expected `findings`"),
        (
            "destinations: [{ name: p, ae_title: P, host: h, port: 104 }]\nmodels: { m: /m }\n"
                + "routes: [{ name: r, model: m, destinations: [p], image_types: [PRIMARY] }]",
            "routes[0].image_types", "'PRIMARY' is not ORIGINAL or DERIVED"
        ),
        ("overlays: { fill_opacity: 1.5 }", "overlays.fill_opacity", "opacity from 0 to 1"),
        (
            "destinations: [{ name: p, ae_title: P, host: h, port: 104, outputs: [seg, rtdose] }]",
            "destinations[0].outputs", "'rtdose' is not an output this node produces (gsps, ko, rtstruct, sc, seg, sr)"
        ),
        (
            "destinations: [{ name: p, ae_title: P, host: h, port: 104, outputs: [] }]",
            "destinations[0].outputs", "at least one output"
        ),
        ("routes: [{ name: r, model: nope, destinations: [] }]", "routes[0].model", "unknown model 'nope'"),
        (
            "models: { m: /m }\nroutes: [{ name: r, model: m, destinations: [pacs] }]", "routes[0].destinations",
            "unknown destination 'pacs'"
        ),
        (
            "models: { m: /m }\nroutes: [{ name: r, level: study, model: m, destinations: [] }]", "routes[0].channels",
            "needs channels"
        ),
        (
            "models: { m: /m }\nroutes: [{ name: r, models: [m, m], destinations: [] }]", "routes[0].models",
            "listed twice"
        ),
        (
            "models: { m: /m }\nroutes: [{ name: r, models: [m, x], destinations: [] }]", "routes[0].models",
            "unknown model 'x'"
        ),
        (
            "models: { m: /m }\nroutes: [{ name: r, model: m, models: [m], destinations: [] }]", "routes[0].models",
            "either model or models"
        ),
        (
            "models: { a: /a, b: /b, c: /c, d: /d, e: /e, f: /f }\nroutes: [{ name: r, models: [a, b, c, d, e, f], destinations: [] }]",
            "routes[0].models", "at most 5 models"
        ),
        ("models: { m: /m }\nroutes: [{ name: r, destinations: [] }]", "routes[0].model", "needs a model"),
        (
            "routes: [{ name: r, match: [{ tag: NoSuchThing, equals: x }] }]", "routes[0].match[0].tag",
            "unknown attribute"
        ),
        (
            "routes: [{ name: r, match: [{ tag: Modality, regex: '([' }] }]", "routes[0].match[0].regex",
            "not a valid regular expression"
        ),
        (
            "routes: [{ name: r, match: [{ tag: Modality, equals: CT, regex: x }] }]", "routes[0].match[0]",
            "exactly one of"
        ),
        (
            "destinations: [{ name: a, ae_title: A, host: h, port: 1 }, { name: a, ae_title: B, host: h, port: 2 }]",
            "destinations[1].name", "duplicate destination"
        )
    ])
    func invalidValuesNameTheKey(yaml: String, key: String, message: String) throws {
        let error = #expect(throws: ConfigurationError.self) { try NodeConfiguration.parse(yaml, file: "test.yaml") }
        #expect(error?.key == key, "\(String(describing: error))")
        #expect(error?.message.contains(message) == true, "\(String(describing: error))")
        #expect(error?.description.hasPrefix("test.yaml") == true)
    }

    @Test func missingFileIsAConfigurationError() {
        let error = #expect(throws: ConfigurationError.self) {
            try NodeConfiguration.load(from: "/nonexistent/node.yaml")
        }
        #expect(error?.file == "/nonexistent/node.yaml")
    }
}

@Suite struct RouterTests {
    static let configuration = try! NodeConfiguration.load(from: ConfigurationTests.packageRoot + "/Config/node.yaml")

    func input(_ values: [DICOM.Tag: [String]], calling: String = "CT01") -> RoutingInput {
        RoutingInput(
            attributes: values, callingAETitle: calling, calledAETitle: "MAMBANODE", sourceAddress: "127.0.0.1")
    }

    let abdomen: [DICOM.Tag: [String]] = [
        .modality: ["CT"], .imageType: ["ORIGINAL", "PRIMARY", "AXIAL"], .seriesDescription: ["Abdomen 3mm"],
        .sliceThickness: ["3"]
    ]

    @Test func firstMatchingRouteWins() {
        let router = Router(routes: Self.configuration.routes)
        #expect(router.route(for: input(abdomen))?.name == "ct-abdomen")
    }

    @Test func eachFailedConditionIsReported() {
        let router = Router(routes: Self.configuration.routes)
        var values = abdomen
        values[.imageType] = ["ORIGINAL", "PRIMARY", "LOCALIZER"]
        values[.sliceThickness] = ["10"]
        let evaluation = router.evaluate(input(values, calling: "OTHER"))
        #expect(router.route(for: input(values, calling: "OTHER")) == nil)
        let failed = evaluation[0].failed.map(\.description)
        #expect(failed.count == 3)
        #expect(failed.contains { $0.contains("ImageType") && $0.hasPrefix("not") })
        #expect(failed.contains { $0.contains("SliceThickness") })
        #expect(failed.contains { $0.contains("calling_ae") })
        #expect(evaluation.last?.failed.map(\.description) == ["(0008,0060) Modality == \"MR\""]) // brain-tumour
    }

    @Test func studyChannelsMatchBySeriesDescription() throws {
        let route = try #require(Self.configuration.routes.first { $0.level == .study })
        func channel(_ description: String) -> String? {
            Router.channel(of: route, for: input([.modality: ["MR"], .seriesDescription: [description]]))?.name
        }
        #expect(channel("T1 SE") == "t1")
        #expect(channel("t1 post Gd") == "t1ce")
        #expect(channel("T2 TSE") == "t2")
        #expect(channel("T2 FLAIR") == "flair")
        #expect(channel("DWI") == nil)
    }

    @Test func presentAbsentAndRange() throws {
        let configuration = try NodeConfiguration.parse(
            """
            destinations: [{ name: p, ae_title: P, host: localhost, port: 104 }]
            models: { m: /m }
            routes:
              - name: r
                model: m
                destinations: [p]
                match:
                  - { tag: BodyPartExamined, present: true }
                  - { tag: "(0018,0088)", absent: true }
                  - { tag: SliceThickness, range: [1, 2] }
            """)
        let router = Router(routes: configuration.routes)
        #expect(router.route(for: input([.bodyPartExamined: ["HEAD"], .sliceThickness: ["1.5"]])) != nil)
        #expect(router.route(for: input([.bodyPartExamined: ["HEAD"], .sliceThickness: ["2.5"]])) == nil)
        #expect(router.route(for: input([.sliceThickness: ["1.5"]])) == nil)
        #expect(
            router.route(
                for: input([.bodyPartExamined: ["HEAD"], .sliceThickness: ["1.5"], .spacingBetweenSlices: ["1"]]))
                == nil)
        #expect(router.tagsOfInterest == [.bodyPartExamined, .spacingBetweenSlices, .sliceThickness])
    }
}
