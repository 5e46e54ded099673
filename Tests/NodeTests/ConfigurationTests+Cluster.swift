import Foundation
import TestSupport
import Testing

@testable import Node

/// `storage.database: postgresql://…`, its password and `node.name`/`roles`/`job_lease`
/// (docs/cluster.md, Configuration).
@Suite struct ClusterConfigurationTests {
    @Test func aPostgreSQLURLNamesTheSharedDatabase() throws {
        let configuration = try NodeConfiguration.parse(
            """
            node: { name: node-a, roles: [receive, send], job_lease: 90s }
            storage: { directory: /srv/store, database: "postgresql://mambanode@db.example:6543/pacsai?sslmode=require" }
            """)
        let location = try #require(configuration.storage.postgreSQL)
        #expect(location.host == "db.example" && location.port == 6543 && location.user == "mambanode")
        #expect(location.database == "pacsai" && location.tls == .require && location.password == nil)
        #expect(location.redacted == "postgresql://mambanode@db.example:6543/pacsai")
        #expect(configuration.cluster.name == "node-a" && configuration.cluster.roles == [.receive, .send])
        #expect(configuration.cluster.jobLease == 90)
        let defaults = try NodeConfiguration.parse("storage: { database: /var/lib/mambanode/node.sqlite }")
        #expect(defaults.storage.postgreSQL == nil, "a path is the embedded SQLite file")
        #expect(defaults.cluster.roles == Set(NodeRole.allCases) && defaults.cluster.jobLease == 120)
        #expect(defaults.cluster.name == ProcessInfo.processInfo.hostName)
    }

    @Test func theShippedClusterExampleParses() throws {
        let root = ConfigurationTests.packageRoot
        // Its password file is the site's: read the rest with the password left out.
        let text = try String(contentsOfFile: root + "/Config/cluster-example.yaml", encoding: .utf8)
            .replacingOccurrences(of: "  password_file: /etc/mambanode/pgpassword", with: "  # password_file")
        let configuration = try NodeConfiguration.parse(text)
        #expect(configuration.cluster.name == "ct-node-1" && configuration.cluster.jobLease == 120)
        #expect(configuration.storage.postgreSQL?.host == "db.hospital.example")
        #expect(configuration.storage.postgreSQL?.tls == .require)
    }

    @Test func thePasswordComesFromAPrivateFileOrPGPASSFILE() throws {
        let directory = TemporaryDirectory("pgpass")
        let file = directory.file("password")
        try "s3cret\n".write(toFile: file, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: file)
        let configuration = try NodeConfiguration.parse(
            "storage: { database: \"postgresql://mambanode@127.0.0.1/db\", password_file: \(file) }")
        #expect(configuration.storage.postgreSQL?.password == "s3cret")

        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: file)
        let exposed = #expect(throws: ConfigurationError.self) {
            try NodeConfiguration.parse(
                "storage: { database: \"postgresql://mambanode@127.0.0.1/db\", password_file: \(file) }")
        }
        #expect(exposed?.key == "storage.password_file" && exposed?.message.contains("chmod 600") == true)

        let pass = directory.file("pgpass")
        try "# comment\nother:5432:db:mambanode:wrong\n127.0.0.1:*:db:mambanode:pa\\:ss\n".write(
            toFile: pass, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: pass)
        let location = PostgreSQLLocation(
            host: "127.0.0.1", port: 5432, user: "mambanode", database: "db", password: nil, tls: .prefer)
        #expect(try PostgreSQLLocation.passwordFromPGPASSFILE(pass, for: location, file: "x") == "pa:ss")
    }

    @Test(arguments: [
        ("storage: { database: \"postgresql://u:pw@h/db\" }", "storage.database", "must not contain a password"),
        ("storage: { database: \"postgresql://h/db\" }", "storage.database", "names no user"),
        ("storage: { database: \"postgresql://u@h\" }", "storage.database", "names no database"),
        ("storage: { database: \"postgresql://u@h/db?sslmode=maybe\" }", "storage.database", "sslmode"),
        ("storage: { database: x.sqlite, password_file: /p }", "storage.password_file", "only goes with"),
        ("node: { roles: [receive, cook] }", "node.roles[1]", "expected receive, work, send or http"),
        ("node: { roles: [] }", "node.roles", "at least one role"),
        ("node: { job_lease: 1s }", "node.job_lease", "between 3 s and 1 h"),
        ("node: { name: \"\" }", "node.name", "1 to 64 characters")
    ])
    func clusterMistakesNameTheKey(yaml: String, key: String, message: String) throws {
        let error = #expect(throws: ConfigurationError.self) { try NodeConfiguration.parse(yaml, file: "test.yaml") }
        #expect(error?.key == key, "\(String(describing: error))")
        #expect(error?.message.contains(message) == true, "\(String(describing: error))")
    }
}
