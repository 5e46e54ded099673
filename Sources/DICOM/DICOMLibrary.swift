import CDICOM

/// One-time set-up of DCMTK: codec registration and log level. DCMTK's default logger chatters on
/// stderr; it is quiet unless asked, since every failure reaches the caller as a `DICOMError`.
public enum DICOMLibrary {
    public enum LogLevel: Int32, Sendable { case quiet = 0, error, warning, info, debug }

    private static let once: Void = { mn_initialize(LogLevel.quiet.rawValue) }()

    /// Registers DCMTK's codecs; called by every entry point, cheap after the first call.
    public static func initialize() { _ = once }
}
