import DICOM
import DICOMNetwork

/// Delivers results with DICOM C-STORE through the DICOM layer's `StorageClient`.
public struct StorageClientTransport: ResultTransport {
    public init() {}

    public func send(_ paths: [String], to destination: NodeConfiguration.Destination) async -> [TransportOutcome] {
        // The AE titles were checked once, when the configuration was loaded.
        let peer = DICOMNetwork.Destination(
            aeTitle: destination.aeTitle, host: destination.host, port: destination.port)
        var configuration = StorageClientConfiguration(callingAETitle: destination.callingAETitle)
        configuration.tls = destination.tls
        let client = StorageClient(configuration: configuration)
        return await client.send(paths, to: peer).map { outcome in
            TransportOutcome(
                path: outcome.path, status: outcome.status?.rawValue, isStored: outcome.isStored,
                error: outcome.isStored ? nil : (outcome.error?.description ?? "not stored"),
                notAccepted: !outcome.isStored && outcome.error?.code == .notAccepted)
        }
    }
}
