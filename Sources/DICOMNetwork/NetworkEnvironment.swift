import CDICOM
import CDICOMNetwork
import DICOM
import Foundation

/// Process-wide preparation DCMTK networking needs, done once before the first SCP or SCU.
enum NetworkEnvironment {
    /// DCMTK disables Nagle's algorithm only when TCP_NODELAY is set in the environment when it
    /// opens a socket; without it every C-STORE waits ~45 ms for a delayed ACK
    /// (docs/platform-notes.md §1). A value the user set is kept. Also registers the codecs the SCU
    /// needs to decompress.
    static func prepare() { precondition(prepared) }

    // A Bool rather than Void: reading a discarded Void global may be optimised away.
    private static let prepared: Bool = {
        setenv("TCP_NODELAY", "1", 0)
        // Once for the process: a second mn_initialize would reset the log level chosen before.
        DICOMLibrary.initialize()
        return true
    }()
}
