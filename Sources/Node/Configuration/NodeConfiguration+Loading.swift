import DICOM
import DICOMNetwork
import Foundation
import Results
import Yams

extension NodeConfiguration {
    /// Reads and validates a YAML configuration file. Every problem is a `ConfigurationError`
    /// naming the file, line and key; unknown keys are errors (a typo must not silently turn a
    /// feature off).
    public static func load(from path: String) throws -> NodeConfiguration {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw ConfigurationError(
                file: path, line: nil, key: "", message: "cannot read: \(error.localizedDescription)")
        }
        return try parse(text, file: path)
    }

    /// Parses configuration text; `file` names it in errors.
    public static func parse(_ text: String, file: String = "configuration") throws -> NodeConfiguration {
        let document: Node?
        do {
            document = try Yams.compose(yaml: text)
        } catch let error as YamlError {
            throw ConfigurationError(file: file, line: nil, key: "", message: "not valid YAML: \(error)")
        }
        let root = ConfigurationReader(file: file, node: document ?? Node([(Node, Node)]()))
        try root.expectKeys([
            "node", "storage", "http", "logging", "sending", "uid_root", "max_concurrent_jobs", "overlap_jobs",
            "unrouted_quiet_time", "limits", "audit", "destinations", "models", "routes", "overlays"
        ])

        var configuration = NodeConfiguration.defaults
        if let node = root["node"] {
            configuration.listener = try parseListener(node)
            configuration.cluster = try parseCluster(node)
        }
        if let storage = root["storage"] { configuration.storage = try parseStorage(storage) }
        if let http = root["http"] {
            try http.expectKeys(["bind", "port", "token_file"])
            if let bind = http["bind"] { configuration.http.bindAddress = try bind.string }
            if let token = http["token_file"] { configuration.http.tokenFile = try token.string }
            if let port = http["port"] {
                let value = try port.int
                guard (0...65535).contains(value) else { throw port.error("port \(value) is not in 0…65535") }
                configuration.http.port = UInt16(value)
            }
        }
        if let logging = root["logging"] {
            try logging.expectKeys(["format", "level"])
            if let format = logging["format"] {
                guard let value = Logging.Format(rawValue: try format.string) else {
                    throw format.error("expected text or json")
                }
                configuration.logging.format = value
            }
            if let level = logging["level"] {
                guard let value = Logging.Level(rawValue: try level.string) else {
                    throw level.error("expected trace, debug, info, notice, warning, error or critical")
                }
                configuration.logging.level = value
            }
        }
        if let sending = root["sending"] {
            try sending.expectKeys(["first_retry", "max_retry", "give_up", "jitter"])
            if let v = sending["first_retry"] { configuration.sending.firstRetry = try positive(v.duration, v) }
            if let v = sending["max_retry"] { configuration.sending.maximumRetry = try positive(v.duration, v) }
            if let v = sending["give_up"] { configuration.sending.giveUpAfter = try positive(v.duration, v) }
            if let v = sending["jitter"] {
                let jitter = try v.double
                guard (0...1).contains(jitter) else { throw v.error("expected a fraction between 0 and 1") }
                configuration.sending.jitter = jitter
            }
            if configuration.sending.maximumRetry < configuration.sending.firstRetry {
                throw sending.error("max_retry is shorter than first_retry", key: "max_retry")
            }
        }
        if let root = root["uid_root"] {
            let value = try root.string
            do throws(DICOMError) { configuration.uids = try UIDGenerator(root: value) } catch {
                throw root.error(error.message)
            }
        }
        if let jobs = root["max_concurrent_jobs"] {
            let value = try jobs.int
            guard value >= 1 else { throw jobs.error("must be at least 1") }
            configuration.maxConcurrentJobs = value
        }
        if let overlap = root["overlap_jobs"] { configuration.overlapJobs = try overlap.bool }
        if let overlays = root["overlays"] {
            // The Secondary Capture overlays (docs/results.md, Secondary Capture).
            try overlays.expectKeys(["slices", "fill_opacity"])
            if let slices = overlays["slices"] {
                switch try slices.string {
                case "findings": configuration.overlays.allSlices = false
                case "all": configuration.overlays.allSlices = true
                default: throw slices.error("expected `findings` (slices with a segment or landmark) or `all`")
                }
            }
            if let opacity = overlays["fill_opacity"] {
                let value = try opacity.double
                guard (0...1).contains(value) else { throw opacity.error("expected an opacity from 0 to 1") }
                configuration.overlays.fillOpacity = value
            }
        }
        if let quiet = root["unrouted_quiet_time"] {
            configuration.unroutedQuietTime = try positive(quiet.duration, quiet)
        }
        if let limits = root["limits"] {
            try limits.expectKeys(["max_instance_mb", "max_instances_per_association", "max_volume_voxels"])
            if let v = limits["max_instance_mb"] {
                let mb = try v.int
                guard mb >= 1 else { throw v.error("must be at least 1") }
                configuration.limits.maxInstanceBytes = UInt64(mb) << 20
            }
            if let v = limits["max_instances_per_association"] {
                let count = try v.int
                guard count >= 1 else { throw v.error("must be at least 1") }
                configuration.limits.maxInstancesPerAssociation = count
            }
            if let v = limits["max_volume_voxels"] {
                let count = try v.int
                guard count >= 1 else { throw v.error("must be at least 1") }
                configuration.limits.maxVolumeVoxels = count
            }
        }
        configuration.audit.file = configuration.storage.directory + "/audit.jsonl"
        if let audit = root["audit"] {
            try audit.expectKeys(["enabled", "file", "syslog"])
            if let v = audit["file"] { configuration.audit.file = try v.string }
            if let v = audit["enabled"], try !v.bool { configuration.audit.file = nil }
            if let syslog = audit["syslog"] {
                try syslog.expectKeys(["host", "port", "tls"])
                let host = try syslog.required("host").string
                guard !host.isEmpty else { throw syslog.error("must not be empty", key: "host") }
                configuration.audit.syslog = SyslogTarget(
                    host: host, port: try syslog.required("port").port(),
                    tls: try syslog["tls"].map(parseDestinationTLS))
            }
        }
        if let destinations = root["destinations"] {
            configuration.destinations = try destinations.items.map {
                try parseDestination($0, callingAE: configuration.listener.aeTitle)
            }
            var seen = Set<String>()
            for (index, destination) in configuration.destinations.enumerated()
            where !seen.insert(destination.name).inserted {
                throw try destinations.items[index].error(
                    "duplicate destination name '\(destination.name)'", key: "name")
            }
        }
        if let models = root["models"] {
            for (name, folder) in try models.entries { configuration.models[name] = try folder.string }
        }
        if let routes = root["routes"] {
            var parsed: [(Route, Int)] = []
            var names = Set<String>()
            for (index, reader) in try routes.items.enumerated() {
                let route = try parseRoute(reader, configuration: configuration)
                guard names.insert(route.name).inserted else {
                    throw reader.error("duplicate route name '\(route.name)'", key: "name")
                }
                parsed.append((route, index))
            }
            // Descending priority; file order breaks ties (a stable, documented order).
            configuration.routes = parsed.sorted {
                $0.0.priority != $1.0.priority ? $0.0.priority > $1.0.priority : $0.1 < $1.1
            }
            .map(\.0)
        }
        return configuration
    }

    /// The defaults of docs/node-behaviour.md where the file is silent.
    public static let defaults = NodeConfiguration(
        listener: Listener(
            aeTitle: AETitle(constant: "MAMBANODE"), port: 11112, maxAssociations: 8, allowedCallingAETitles: [],
            acceptAnyCallingAE: false),
        storage: Storage(directory: "var/store", databasePath: "var/mambanode.sqlite", minimumFreeBytes: 1 << 30),
        http: HTTP(bindAddress: "127.0.0.1", port: 8080),
        logging: Logging(format: .text, level: .info),
        sending: SendPolicy(firstRetry: 30, maximumRetry: 600, giveUpAfter: 86400, jitter: 0.2),
        uids: .uuidDerived,
        maxConcurrentJobs: 1,
        destinations: [],
        models: [:],
        routes: []
    )

    private static func positive(_ value: Double, _ reader: ConfigurationReader) throws -> Double {
        guard value > 0 else { throw reader.error("must be greater than zero") }
        return value
    }

    /// An AE title (PS3.5 §6.2, VR AE), parsed once into the typed value every service uses.
    static func aeTitle(_ reader: ConfigurationReader) throws -> AETitle {
        let value = try reader.string
        do throws(DICOMError) { return try AETitle(value) } catch {
            throw reader.error("'\(value)' is not an AE title (1–16 characters, no backslash or control characters)")
        }
    }

    private static func parseListener(_ node: ConfigurationReader) throws -> Listener {
        try node.expectKeys([
            "ae_title", "port", "max_associations", "allowed_calling_aes", "accept_any_calling_ae",
            "allowed_sources", "tls", "acse_timeout", "dimse_timeout", "name", "roles", "job_lease"
        ])
        var listener = NodeConfiguration.defaults.listener
        if let v = node["ae_title"] { listener.aeTitle = try aeTitle(v) }
        if let v = node["port"] { listener.port = try v.port() }
        if let v = node["max_associations"] {
            listener.maxAssociations = try v.int
            guard (1...256).contains(listener.maxAssociations) else { throw v.error("must be between 1 and 256") }
        }
        if let v = node["allowed_calling_aes"] {
            listener.allowedCallingAETitles = try (v.node.scalar != nil ? [v] : v.items).map(aeTitle)
        }
        if let v = node["accept_any_calling_ae"] { listener.acceptAnyCallingAE = try v.bool }
        // Whole seconds: DCMTK's timers count seconds.
        for (key, path) in [("acse_timeout", \Listener.acseTimeout), ("dimse_timeout", \Listener.dimseTimeout)] {
            guard let v = node[key] else { continue }
            let seconds = try v.duration
            guard seconds >= 1, seconds <= 3600, seconds == seconds.rounded() else {
                throw v.error("must be a whole number of seconds between 1 s and 1 h")
            }
            listener[keyPath: path] = seconds
        }
        if let v = node["allowed_sources"] { listener.allowedSources = try addressRanges(v) }
        if let tls = node["tls"] {
            try tls.expectKeys([
                "port", "certificate", "private_key", "ca_bundle", "require_client_certificate",
                "plain_listener"
            ])
            let require = try tls["require_client_certificate"]?.bool ?? true
            let ca = try tls["ca_bundle"]?.string
            if require && ca == nil {
                throw tls.error(
                    "require_client_certificate needs ca_bundle (the CAs of accepted clients)", key: "ca_bundle")
            }
            listener.tls = ListenerTLS(
                port: try tls.required("port").port(),
                certificateFile: try tls.required("certificate").string,
                privateKeyFile: try tls.required("private_key").string,
                trustedCAFile: ca, requireClientCertificate: require)
            if let v = tls["plain_listener"] { listener.plainListener = try v.bool }
            if listener.plainListener && listener.tls?.port == listener.port {
                throw tls.error("the TLS port must differ from node.port (or set plain_listener: false)", key: "port")
            }
        }
        return listener
    }

    /// A list of CIDR networks (`10.0.0.0/8`, `127.0.0.1`, `fd00::/8`).
    static func addressRanges(_ reader: ConfigurationReader) throws -> [AddressRange] {
        try (reader.node.scalar != nil ? [reader] : reader.items).map { item in
            let text = try item.string
            guard let range = AddressRange(text) else {
                throw item.error("'\(text)' is not an address or CIDR network")
            }
            return range
        }
    }

    /// `destinations[].tls`: the sender always verifies the peer, so the CA bundle is required.
    private static func parseDestinationTLS(_ node: ConfigurationReader) throws -> TLSConfiguration {
        try node.expectKeys(["ca_bundle", "certificate", "private_key", "server_name"])
        let certificate = try node["certificate"]?.string, key = try node["private_key"]?.string
        if (certificate == nil) != (key == nil) {
            throw node.error(
                "certificate and private_key go together (mutual authentication)",
                key: certificate == nil ? "certificate" : "private_key")
        }
        return TLSConfiguration(
            certificateFile: certificate, privateKeyFile: key,
            trustedCAFile: try node.required("ca_bundle").string, verifyPeer: true,
            serverName: try node["server_name"]?.string)
    }

    /// `node.name`, `node.roles` and `node.job_lease` (docs/cluster.md).
    private static func parseCluster(_ node: ConfigurationReader) throws -> Cluster {
        var cluster = NodeConfiguration.defaults.cluster
        if let v = node["name"] {
            cluster.name = try v.string
            guard !cluster.name.isEmpty, cluster.name.count <= 64 else { throw v.error("must have 1 to 64 characters") }
        }
        if let v = node["roles"] {
            cluster.roles = Set(
                try v.items.map { item in
                    guard let role = NodeRole(rawValue: try item.string) else {
                        throw item.error("expected receive, work, send or http")
                    }
                    return role
                })
            guard !cluster.roles.isEmpty else { throw v.error("a node needs at least one role") }
        }
        if let v = node["job_lease"] {
            cluster.jobLease = try v.duration
            guard cluster.jobLease >= 3, cluster.jobLease <= 3600 else { throw v.error("must be between 3 s and 1 h") }
        }
        return cluster
    }

    private static func parseStorage(_ node: ConfigurationReader) throws -> Storage {
        try node.expectKeys(["directory", "database", "password_file", "min_free_disk_mb"])
        var storage = NodeConfiguration.defaults.storage
        if let v = node["directory"] { storage.directory = try v.string }
        if let v = node["database"] {
            storage.databasePath = try v.string
            if PostgreSQLLocation.isURL(storage.databasePath) {
                storage.postgreSQL = try PostgreSQLLocation.parse(
                    storage.databasePath, passwordFile: try node["password_file"]?.string,
                    environment: ProcessInfo.processInfo.environment, reader: v)
            }
        }
        if storage.postgreSQL == nil, let v = node["password_file"] {
            throw v.error("only goes with a postgresql:// database")
        }
        if let v = node["min_free_disk_mb"] {
            let mb = try v.int
            guard mb >= 0 else { throw v.error("must not be negative") }
            storage.minimumFreeBytes = UInt64(mb) << 20
        }
        return storage
    }

    private static func parseDestination(_ node: ConfigurationReader, callingAE: AETitle) throws -> Destination {
        try node.expectKeys(["name", "ae_title", "host", "port", "calling_ae_title", "tls", "outputs"])
        let name = try node.required("name").string
        let host = try node.required("host").string
        guard !host.isEmpty else { throw node.error("must not be empty", key: "host") }
        return Destination(
            name: name, aeTitle: try aeTitle(node.required("ae_title")), host: host,
            port: try node.required("port").port(),
            callingAETitle: try node["calling_ae_title"].map(aeTitle) ?? callingAE,
            tls: try node["tls"].map(parseDestinationTLS),
            outputs: try node["outputs"].map(parseOutputs) ?? Destination.defaultOutputs)
    }

    /// `outputs: [seg, sr]`: the result objects a destination receives; at least one, each known.
    private static func parseOutputs(_ reader: ConfigurationReader) throws -> Set<EncodedObject.Kind> {
        let names = try (reader.node.scalar != nil ? [reader] : reader.items).map { try $0.string }
        guard !names.isEmpty else { throw reader.error("a destination needs at least one output") }
        return Set(
            try names.map { name in
                guard let kind = Destination.outputNames[name] else {
                    let known = Destination.outputNames.keys.sorted().joined(separator: ", ")
                    throw reader.error("'\(name)' is not an output this node produces (\(known))")
                }
                return kind
            })
    }

    private static func parseRoute(_ node: ConfigurationReader, configuration: NodeConfiguration) throws -> Route {
        try node.expectKeys([
            "name", "priority", "level", "match", "channels", "model", "models", "destinations", "quiet_time",
            "close_on_expected_count", "hard_cap", "give_up", "interrupted_grace", "allowed_calling_aes",
            "allowed_sources", "image_types"
        ])
        let name = try node.required("name").string
        var level = Route.Level.series
        if let v = node["level"] {
            guard let parsed = Route.Level(rawValue: try v.string) else { throw v.error("expected series or study") }
            level = parsed
        }
        var conditions = try node["match"].map { try $0.items.map(parseCondition) } ?? []
        // Per-route allow-lists are conditions on the association, so `routes test` shows them too.
        if let v = node["allowed_calling_aes"] {
            conditions.append(
                Condition(
                    field: .callingAETitle,
                    test: .oneOf(try (v.node.scalar != nil ? [v] : v.items).map { try aeTitle($0).value }),
                    negated: false))
        }
        if let v = node["allowed_sources"] {
            conditions.append(Condition(field: .sourceAddress, test: .inNetworks(try addressRanges(v)), negated: false))
        }
        var channels: [Route.Channel] = []
        if let v = node["channels"] {
            guard level == .study else { throw v.error("channels are for study-level routes (level: study)") }
            channels = try v.items.map { channel in
                try channel.expectKeys(["name", "match"])
                return Route.Channel(
                    name: try channel.required("name").string,
                    conditions: try channel.required("match").items.map(parseCondition))
            }
        }
        if level == .study && channels.isEmpty {
            throw node.error("a study-level route needs channels", key: "channels")
        }
        let models: [String]
        switch (node["model"], node["models"]) {
        case (let one?, nil):
            models = [try one.string]
            guard configuration.models[models[0]] != nil else {
                throw one.error(
                    "unknown model '\(models[0])' (models: \(configuration.models.keys.sorted().joined(separator: ", ")))"
                )
            }
        case (nil, let list?):
            models = try list.strings
            guard !models.isEmpty else { throw list.error("a route needs at least one model") }
            guard Set(models).count == models.count else { throw list.error("a model is listed twice") }
            // Model k's results are numbered from 900 + 10k, and each new result version moves
            // them by 100 (Route.seriesSlot): more models would collide.
            guard models.count <= Route.maximumModels else {
                throw list.error(
                    "at most \(Route.maximumModels) models per route (their result series are numbered "
                        + "900 + 10 × position, 100 apart per result version)")
            }
            for model in models where configuration.models[model] == nil {
                throw list.error(
                    "unknown model '\(model)' (models: \(configuration.models.keys.sorted().joined(separator: ", ")))")
            }
        case (_?, _?):
            throw node.error("give either model or models, not both", key: "models")
        case (nil, nil):
            throw node.error("a route needs a model (model: NAME or models: [NAME, …])", key: "model")
        }
        let destinationsReader = try node.required("destinations")
        let destinations = try destinationsReader.strings
        for destination in destinations where configuration.destination(named: destination) == nil {
            throw destinationsReader.error("unknown destination '\(destination)'")
        }
        guard !destinations.isEmpty else { throw destinationsReader.error("a route needs at least one destination") }
        return Route(
            name: name,
            priority: try node["priority"]?.int ?? 0,
            level: level,
            conditions: conditions,
            channels: channels,
            models: models,
            destinations: destinations,
            quietTime: try node["quiet_time"].map { try positive($0.duration, $0) } ?? 45,
            closeOnExpectedCount: try node["close_on_expected_count"]?.bool ?? true,
            hardCap: try node["hard_cap"].map { try positive($0.duration, $0) } ?? 3600,
            giveUpAfter: try node["give_up"].map { try positive($0.duration, $0) } ?? 6 * 3600,
            interruptedGrace: try node["interrupted_grace"].map { try positive($0.duration, $0) } ?? 600,
            imageTypes: try node["image_types"].map(parseImageTypes)
        )
    }

    /// `image_types: [ORIGINAL]`: Image Type value 1 (PS3.3 C.7.6.1.1.2), at least one.
    private static func parseImageTypes(_ reader: ConfigurationReader) throws -> Set<String> {
        let names = try (reader.node.scalar != nil ? [reader] : reader.items).map { try $0.string }
        guard !names.isEmpty else { throw reader.error("name at least one Image Type (ORIGINAL, DERIVED)") }
        for name in names where !["ORIGINAL", "DERIVED"].contains(name) {
            throw reader.error("'\(name)' is not ORIGINAL or DERIVED (Image Type value 1)")
        }
        return Set(names)
    }

    private static func parseCondition(_ node: ConfigurationReader) throws -> Condition {
        let tests = ["equals", "regex", "range", "contains", "present", "absent"]
        try node.expectKeys(Set(["tag", "field", "not"] + tests))
        let field: Condition.Field
        switch (node["tag"], node["field"]) {
        case (let tag?, nil):
            let text = try tag.string
            do throws(DICOMError) { field = .tag(try DICOM.Tag(keyword: text)) } catch {
                guard let parsed = DICOM.Tag(hexadecimal: text) else { throw tag.error("unknown attribute '\(text)'") }
                field = .tag(parsed)
            }
        case (nil, let other?):
            switch try other.string {
            case "calling_ae": field = .callingAETitle
            case "called_ae": field = .calledAETitle
            case "source_ip": field = .sourceAddress
            default: throw other.error("expected calling_ae, called_ae or source_ip")
            }
        default:
            throw node.error("a condition needs exactly one of tag or field")
        }
        let given = tests.filter { node[$0] != nil }
        guard given.count == 1, let name = given.first, let value = node[name] else {
            throw node.error("a condition needs exactly one of \(tests.joined(separator: ", "))")
        }
        let test: Condition.Test
        switch name {
        case "equals": test = .equals(try value.string)
        case "contains": test = .contains(try value.string)
        case "regex":
            do { test = .regex(try RoutingPattern(try value.string)) } catch let error as ConfigurationError {
                throw error
            } catch {
                throw value.error("not a valid regular expression")
            }
        case "range":
            let bounds = try value.items.map { try $0.double }
            guard bounds.count == 2, bounds[0] <= bounds[1] else { throw value.error("expected [minimum, maximum]") }
            test = .range(bounds[0]...bounds[1])
        case "present": test = try value.bool ? .present : .absent
        default: test = try value.bool ? .absent : .present
        }
        return Condition(field: field, test: test, negated: try node["not"]?.bool ?? false)
    }
}
