import CDICOMObjects
import DICOM

extension SourceFrame {
    /// The frame as the shim's requests take it (cdicom_objects.h); strings live as long as `arena`.
    func cFrame(in arena: CStringArena) -> mn_seg_source_frame {
        mn_seg_source_frame(
            sop_class_uid: arena(sopClassUID), sop_instance_uid: arena(sopInstanceUID),
            frame_number: UInt32(frameNumber ?? 0), position: (position.x, position.y, position.z))
    }
}
