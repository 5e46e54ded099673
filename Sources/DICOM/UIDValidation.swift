/// Checks that a string is a DICOM UID (PS3.5 §9.1): at most 64 characters, numeric components
/// separated by periods, no empty component, and no leading zero in a component of more than one
/// digit. Received UIDs become file names in the instance store, so this is what keeps a hostile
/// peer from writing outside it (`../`, `/`) or making names collide.
public enum UIDValidation {
    /// Why `uid` is not a valid UID, or nil when it is.
    public static func problem(in uid: String) -> String? {
        let bytes = Array(uid.utf8)
        if bytes.isEmpty { return "empty" }
        if bytes.count > 64 { return "longer than 64 characters" }
        var componentStart = 0
        for index in 0...bytes.count {
            if index == bytes.count || bytes[index] == UInt8(ascii: ".") {
                let length = index - componentStart
                if length == 0 { return "empty component" }
                if length > 1 && bytes[componentStart] == UInt8(ascii: "0") { return "component with a leading zero" }
                componentStart = index + 1
            } else if !(UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[index]) {
                return "character other than a digit or a period"
            }
        }
        return nil
    }

    /// Throws `DICOMError.badValue` naming `tag` when `uid` is not a valid UID.
    public static func validate(_ uid: String, tag: Tag) throws(DICOMError) {
        if let problem = problem(in: uid) {
            throw DICOMError(.badValue, "\(tag) '\(uid)' is not a valid UID: \(problem)", tag: tag)
        }
    }
}
