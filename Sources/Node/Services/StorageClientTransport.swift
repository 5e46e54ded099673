import DICOM
import DICOMNetwork

/// Delivers results with DICOM C-STORE through the DICOM layer's `StorageClient`.
public struct StorageClientTransport: ResultTransport {
    public init() {}

    public func send(_ paths: [String], to destination: NodeConfiguration.Destination) async -> [TransportOutcome] {
        let peer: DICOMNetwork.Destination
        let client: StorageClient
        do throws(DICOMError) {
            peer = DICOMNetwork.Destination(
                aeTitle: try AETitle(destination.aeTitle), host: destination.host, port: destination.port)
            var configuration = StorageClientConfiguration(callingAETitle: try AETitle(destination.callingAETitle))
            configuration.tls = destination.tls
            client = StorageClient(configuration: configuration)
        } catch {
            return paths.map { TransportOutcome(path: $0, status: nil, isStored: false, error: error.description) }
        }
        return await client.send(paths, to: peer).map { outcome in
            TransportOutcome(
                path: outcome.path, status: outcome.status?.rawValue, isStored: outcome.isStored,
                error: outcome.isStored ? nil : (outcome.error?.description ?? "not stored"))
        }
    }
}
