import DICOM

/// The equipment that produced an object: General and Enhanced General Equipment (PS3.3 C.7.5.1,
/// C.7.5.2). The Enhanced module, which the Segmentation IOD includes, makes all four values Type
/// 1, so none may be empty.
public struct EquipmentIdentity: Sendable, Hashable {
    public var manufacturer: String
    public var modelName: String
    public var deviceSerialNumber: String
    public var softwareVersions: String

    public init(
        manufacturer: String = "MambaNode", modelName: String = "MambaNode", deviceSerialNumber: String,
        softwareVersions: String
    ) throws(DICOMError) {
        try checkLongString(manufacturer, .manufacturer, required: true)
        try checkLongString(modelName, .manufacturerModelName, required: true)
        try checkLongString(deviceSerialNumber, .deviceSerialNumber, required: true)
        try checkLongString(softwareVersions, .softwareVersions, required: true)
        self.manufacturer = manufacturer
        self.modelName = modelName
        self.deviceSerialNumber = deviceSerialNumber
        self.softwareVersions = softwareVersions
    }
}
