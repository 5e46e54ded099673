import DICOM
import DICOMNetwork
import Foundation

/// Turns an instance the SCP has made durable into an index row and a series update, before the
/// C-STORE response is sent (docs/architecture.md, Data flow: every arrow that crosses a crash is
/// a row or an fsync'd file). Runs on a DCMTK worker thread.
public struct InstanceIndexer: Sendable {
    let store: any NodeStateStore
    let tags: Set<DICOM.Tag>
    /// Qualifies the SCP's association ids, which start at 1 in every process: an association
    /// recorded with an instance is this run's, not a namesake from before a restart.
    let run: String

    /// When an index row reaches the disk: with the storage server's flush when that flush
    /// covers the database, else at commit.
    let durability: NodeStore.Durability

    public init(
        store: any NodeStateStore, run: String = String(UUID().uuidString.prefix(8)),
        durability: NodeStore.Durability = .atCommit
    ) {
        self.store = store
        self.run = run
        self.durability = durability
        tags = store.router.tagsOfInterest
    }

    /// The start of the run ids of node `node`: its associations are recognisable in a store
    /// several nodes share (a restarted node recovers the series its own associations fed).
    public static func runPrefix(node: String) -> String { node + "/" }

    /// A run id for node `node`: its prefix and a random part.
    public static func run(node: String) -> String { runPrefix(node: node) + String(UUID().uuidString.prefix(8)) }

    /// The id an association's instances are recorded under.
    public func associationID(_ association: AssociationInfo) -> String { "\(run)/\(association.id)" }

    /// Indexes `instance`; throwing makes the SCP answer "out of resources" so the sender retries.
    @discardableResult
    public func index(
        _ instance: DICOMNetwork.ReceivedInstance, receivedAt: Date = Date()
    ) throws -> NodeStore.RecordOutcome {
        let header = try DataSet.read(contentsOf: instance.path, headerOnly: true)
        let arrival = InstanceArrival(
            record: InstanceRecord(
                sopInstanceUID: instance.sopInstanceUID,
                sopClassUID: instance.sopClassUID,
                seriesInstanceUID: try header.requiredString(.seriesInstanceUID),
                studyInstanceUID: try header.requiredString(.studyInstanceUID),
                path: instance.path,
                transferSyntaxUID: instance.transferSyntaxUID,
                callingAETitle: instance.association.callingAETitle,
                calledAETitle: instance.association.calledAETitle,
                sourceAddress: instance.association.peer,
                associationID: associationID(instance.association),
                receivedAt: receivedAt),
            expectedCount: try Self.expectedCount(header),
            routing: RoutingInput(
                dataSet: header, tags: tags, callingAETitle: instance.association.callingAETitle,
                calledAETitle: instance.association.calledAETitle, sourceAddress: instance.association.peer))
        // The association's correlation id follows the series into its job and results.
        // Durable with the storage server's flush, which also syncs the database's file system
        // (StorageServerConfiguration.alsoDurable), before the response.
        return try store.recordWaiting(
            arrival, correlationID: "assoc-\(instance.association.id)-\(UUID().uuidString.prefix(8))",
            durability: durability)
    }

    /// The instance count the data announces for the series: one for an enhanced multi-frame
    /// object (the whole volume in one instance, PS3.3 C.7.6.16), else Images in Acquisition
    /// (0020,1002) when present.
    static func expectedCount(_ header: DataSet) throws(DICOMError) -> Int? {
        if header.contains(.perFrameFunctionalGroupsSequence) { return 1 }
        if let images = try? header.int(.imagesInAcquisition), images > 0 { return images }
        return nil
    }
}
