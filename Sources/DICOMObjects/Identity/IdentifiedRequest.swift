import CDICOMObjects
import DICOM

/// The fields every object writer's C request has for the new series and instance and for the
/// equipment (cdicom_objects.h), so that one function fills them for all of them.
protocol IdentifiedRequest {
    var series_instance_uid: UnsafePointer<CChar>! { get set }
    var sop_instance_uid: UnsafePointer<CChar>! { get set }
    var series_number: Int32 { get set }
    var instance_number: Int32 { get set }
    var series_description: UnsafePointer<CChar>! { get set }
    var manufacturer: UnsafePointer<CChar>! { get set }
    var model_name: UnsafePointer<CChar>! { get set }
    var device_serial_number: UnsafePointer<CChar>! { get set }
    var software_versions: UnsafePointer<CChar>! { get set }
}

extension IdentifiedRequest {
    /// Sets the series, instance and equipment fields; the strings live as long as `arena`.
    mutating func identify(_ series: SeriesIdentity, _ equipment: EquipmentIdentity, in arena: CStringArena) {
        series_instance_uid = arena(series.seriesInstanceUID)
        sop_instance_uid = arena(series.sopInstanceUID)
        series_number = Int32(series.seriesNumber)
        instance_number = Int32(series.instanceNumber)
        series_description = arena(series.seriesDescription)
        manufacturer = arena(equipment.manufacturer)
        model_name = arena(equipment.modelName)
        device_serial_number = arena(equipment.deviceSerialNumber)
        software_versions = arena(equipment.softwareVersions)
    }
}

extension mn_seg_request: IdentifiedRequest {}
extension mn_sr_request: IdentifiedRequest {}
extension mn_rt_request: IdentifiedRequest {}
extension mn_gsps_request: IdentifiedRequest {}
extension mn_ko_request: IdentifiedRequest {}
extension mn_sc_request: IdentifiedRequest {}
