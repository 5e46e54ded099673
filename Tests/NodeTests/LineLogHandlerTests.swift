import Foundation
import Logging
import Synchronization
import Testing

@testable import Node

@Suite struct LineLogHandlerTests {
    final class Lines: Sendable {
        let storage = Mutex<[String]>([])
        func append(_ line: String) { storage.withLock { $0.append(line) } }
        var all: [String] { storage.withLock { $0 } }
    }

    @Test func jsonLinesCarryMetadata() throws {
        let lines = Lines()
        var logger = Logger(label: "node") { label in
            LineLogHandler(label: label, format: .json, level: .info, write: lines.append)
        }
        logger[metadataKey: "correlation_id"] = "abc"
        logger.info("series stable", metadata: ["series_instance_uid": "1.2.3"])
        logger.debug("not shown")
        #expect(lines.all.count == 1)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(lines.all[0].utf8)) as? [String: Any])
        #expect(object["message"] as? String == "series stable")
        #expect(object["correlation_id"] as? String == "abc")
        #expect(object["series_instance_uid"] as? String == "1.2.3")
        #expect(object["level"] as? String == "info")
    }

    @Test func textLinesAreOneLinePerEvent() {
        let lines = Lines()
        let logger = Logger(label: "node") { label in
            LineLogHandler(label: label, format: .text, level: .info, write: lines.append)
        }
        logger.warning("send failed", metadata: ["destination": "pacs", "attempt": "2"])
        #expect(lines.all.count == 1)
        #expect(lines.all[0].hasSuffix("warning node: send failed attempt=2 destination=pacs"))
    }
}
