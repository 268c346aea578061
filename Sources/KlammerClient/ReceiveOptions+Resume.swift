import Foundation
public import KlammerProtocol

extension ReceiveOptions {
    /// The download a cut connection left half received in `directory` (the payload directory of
    /// ``PayloadStorage/directory(_:)``): the newest `<message id>.payload.part` with at least one byte, as the
    /// resume point for ``KlammerClient/fetch(max:options:resume:)`` (SPEC.md §4.8). nil if there is none.
    public static func resumePoint(in directory: String) -> Frame.ResumePoint? {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        var best: (point: Frame.ResumePoint, modified: Date)? = nil
        for name in names where name.hasSuffix(PayloadSink.partSuffix) {
            guard let id = MessageID(hex: String(name.dropLast(PayloadSink.partSuffix.count))) else { continue }
            let path = (directory as NSString).appendingPathComponent(name)
            guard let attributes = try? FileManager.default.attributesOfItem(atPath: path),
                let size = (attributes[.size] as? NSNumber)?.uint64Value, size > 0
            else { continue }
            let modified = attributes[.modificationDate] as? Date ?? .distantPast
            if best == nil || modified > best!.modified {
                best = (Frame.ResumePoint(messageID: id, offset: size), modified)
            }
        }
        return best?.point
    }
}
