import DICOM
import DICOMObjects
import Foundation
import Results

/// How the node presents itself in what it creates: equipment (PS3.3 C.7.5.1) and the device
/// observer of reports (TID 1004).
public enum NodeIdentity {
    public static let softwareVersions = "MambaNode 0.1"

    /// Equipment and observer for this host and AE title. The Device Observer UID stays the same
    /// for a host and AE title (2.25 and a 64-bit FNV-1a hash of both) unless given.
    public static func encoderConfiguration(
        aeTitle: String, deviceUID: String? = nil
    ) throws(DICOMError) -> ResultEncoderConfiguration {
        let host = String(ProcessInfo.processInfo.hostName.prefix(64))
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in (host + "/" + aeTitle).utf8 { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
        let equipment = try EquipmentIdentity(
            deviceSerialNumber: host.isEmpty ? "mambanode" : host,
            softwareVersions: softwareVersions)
        let observer = try DeviceObserver(uid: deviceUID ?? "2.25.\(max(hash, 1))", name: String(aeTitle.prefix(64)))
        return ResultEncoderConfiguration(equipment: equipment, observer: observer)
    }
}
