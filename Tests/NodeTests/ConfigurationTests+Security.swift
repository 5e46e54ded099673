import DICOM
import DICOMNetwork
import Foundation
import Testing

@testable import Node

/// The security keys of the configuration: TLS on the listener and per destination,
/// allow-lists, HTTP token, limits and audit.
@Suite struct SecurityConfigurationTests {
    @Test func shippedExampleHasTheSecurityDefaults() throws {
        let configuration = try NodeConfiguration.load(from: ConfigurationTests.packageRoot + "/Config/node.yaml")
        #expect(configuration.listener.allowedSources.map(\.description) == ["127.0.0.1/32", "10.0.0.0/8"])
        #expect(configuration.listener.tls == nil && configuration.listener.plainListener)
        #expect(
            configuration.limits
                == .init(
                    maxInstanceBytes: 2048 << 20, maxInstancesPerAssociation: 100_000,
                    maxVolumeVoxels: 1 << 30))
        #expect(configuration.audit.file == "var/store/audit.jsonl")
        #expect(configuration.http.bindAddress == "127.0.0.1" && configuration.http.tokenFile == nil)
    }

    @Test func syslogOverTLSTakesTheDestinationTLSSettings() throws {
        let configuration = try NodeConfiguration.parse(
            """
            audit: { syslog: { host: audit.example, port: 6514, tls: { ca_bundle: /c/ca.crt, server_name: siem.example } } }
            """)
        let syslog = try #require(configuration.audit.syslog)
        #expect(
            syslog.tls == TLSConfiguration(trustedCAFile: "/c/ca.crt", verifyPeer: true, serverName: "siem.example"))
        #expect(try NodeConfiguration.parse("audit: { syslog: { host: h, port: 514 } }").audit.syslog?.tls == nil)
    }

    @Test func listenerAndDestinationTLS() throws {
        let configuration = try NodeConfiguration.parse(
            """
            node:
              port: 11112
              tls: { port: 2762, certificate: /c/s.crt, private_key: /c/s.key, ca_bundle: /c/ca.crt, plain_listener: false }
            storage: { directory: /data }
            destinations:
              - { name: pacs, ae_title: PACS, host: 10.0.0.5, port: 2762,
                  tls: { ca_bundle: /c/pacs.crt, certificate: /c/me.crt, private_key: /c/me.key, server_name: pacs.example } }
            """)
        let tls = try #require(configuration.listener.tls)
        #expect(tls.port == 2762 && tls.requireClientCertificate && !configuration.listener.plainListener)
        #expect(
            tls.tlsConfiguration
                == TLSConfiguration(
                    certificateFile: "/c/s.crt", privateKeyFile: "/c/s.key",
                    trustedCAFile: "/c/ca.crt", verifyPeer: true))
        #expect(
            configuration.destination(named: "pacs")?.tls
                == TLSConfiguration(
                    certificateFile: "/c/me.crt", privateKeyFile: "/c/me.key", trustedCAFile: "/c/pacs.crt",
                    verifyPeer: true,
                    serverName: "pacs.example"))
        #expect(configuration.audit.file == "/data/audit.jsonl", "the audit file defaults into the store directory")
    }

    @Test(arguments: [
        ("node: { allowed_sources: [10.0.0.0/33] }", "node.allowed_sources[0]", "not an address or CIDR network"),
        ("node: { allowed_sources: [hospital] }", "node.allowed_sources[0]", "not an address or CIDR network"),
        ("node: { tls: { port: 2762, certificate: a, private_key: b } }", "node.tls.ca_bundle", "needs ca_bundle"),
        (
            "node: { tls: { port: 11112, certificate: a, private_key: b, ca_bundle: c } }", "node.tls.port",
            "must differ"
        ),
        ("node: { tls: { port: 2762, certificate: a, ca_bundle: c } }", "node.tls.private_key", "missing"),
        (
            "destinations: [{ name: p, ae_title: P, host: h, port: 1, tls: { certificate: a } }]",
            "destinations[0].tls.private_key",
            "go together"
        ),
        (
            "destinations: [{ name: p, ae_title: P, host: h, port: 1, tls: { server_name: x } }]",
            "destinations[0].tls.ca_bundle",
            "missing"
        ),
        ("limits: { max_instance_mb: 0 }", "limits.max_instance_mb", "at least 1"),
        ("limits: { max_volume_voxels: 0 }", "limits.max_volume_voxels", "at least 1"),
        ("limits: { max_instances: 3 }", "limits.max_instances", "unknown key"),
        ("audit: { syslog: { host: h } }", "audit.syslog.port", "missing"),
        ("http: { token: x }", "http.token", "unknown key"),
        (
            "models: { m: /m }\ndestinations: [{ name: p, ae_title: P, host: h, port: 1 }]\n"
                + "routes: [{ name: r, model: m, destinations: [p], allowed_sources: [1.2.3] }]",
            "routes[0].allowed_sources[0]", "not an address"
        )
    ])
    func invalidSecurityValuesNameTheKey(yaml: String, key: String, message: String) throws {
        let error = #expect(throws: ConfigurationError.self) { try NodeConfiguration.parse(yaml, file: "test.yaml") }
        #expect(error?.key == key, "\(String(describing: error))")
        #expect(error?.message.contains(message) == true, "\(String(describing: error))")
    }

    @Test func addressRangesMatchByPrefix() throws {
        let lan = try #require(AddressRange("10.1.0.0/16"))
        #expect(lan.contains("10.1.200.3") && !lan.contains("10.2.0.1") && !lan.contains("not an address"))
        #expect(lan.contains("::ffff:10.1.2.3"), "an IPv4-mapped IPv6 peer counts as IPv4")
        #expect(try #require(AddressRange("127.0.0.1")).contains("127.0.0.1"))
        #expect(!(try #require(AddressRange("127.0.0.1")).contains("127.0.0.2")))
        #expect(try #require(AddressRange("fd00::/8")).contains("fd12::1"))
        #expect(try #require(AddressRange("10.1.2.3/16")).description == "10.1.0.0/16")
        #expect([AddressRange]().allows("192.0.2.1"), "no list allows everyone")
    }

    @Test func perRouteAllowListsDecideTheRoute() throws {
        let configuration = try NodeConfiguration.parse(
            """
            models: { m: /m }
            destinations: [{ name: p, ae_title: P, host: h, port: 1 }]
            routes:
              - { name: lan, model: m, destinations: [p], allowed_calling_aes: [CT01, CT02], allowed_sources: [10.0.0.0/8] }
              - { name: other, model: m, destinations: [p] }
            """)
        let router = Router(routes: configuration.routes)
        func route(_ ae: String, _ ip: String) -> String? {
            router.route(for: RoutingInput(attributes: [:], callingAETitle: ae, sourceAddress: ip))?.name
        }
        #expect(route("CT02", "10.4.5.6") == "lan")
        #expect(route("CT03", "10.4.5.6") == "other")
        #expect(route("CT01", "192.168.1.1") == "other")
        let lan = try #require(configuration.routes.first)
        #expect(lan.conditions.map(\.description) == ["calling_ae in [CT01, CT02]", "source_ip in [10.0.0.0/8]"])
    }
}
