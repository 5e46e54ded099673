import Testing
@testable import DICOM
@Test func placeholder() {}
