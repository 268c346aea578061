import Foundation
import KlammerBroker
import KlammerCrypto
import KlammerStore
#if canImport(Glibc)
    import Glibc
#endif

extension AdminService {
    /// `GET /v1/status`: the registry counts always; connections, certificates and disk when the daemon gave a
    /// probe; queue depths while the broker runs.
    func statusView(now: Date = Date()) -> AdminStatusView {
        let all = registry.all()
        func count(_ status: Participant.Status) -> Int { all.filter { $0.status == status }.count }
        var view = AdminStatusView(
            version: version, brokerId: brokerID, mode: mode, startedAt: startedAt,
            uptimeSeconds: max(0, Int(now.timeIntervalSince(startedAt))),
            participants: .init(total: all.count, active: count(.active), suspended: count(.suspended), revoked: count(.revoked)),
            auditLastSequence: audit.lastSequence)
        if let broker = brokerProvider() {
            view.queues = Self.queueSummary(broker.queueStatistics().map(AdminQueueView.init))
        }
        if let probe {
            let connections = probe.connections()
            view.connections = .init(total: connections.total, byParticipant: connections.byParticipant)
            let (broker, anchors) = probe.certificates()
            view.certificates = .init(
                broker: Self.expiry(broker, now: now),
                ca: anchors.map { Self.expiry($0, now: now) },
                earliestParticipant: Self.earliestParticipantCertificate(all, now: now))
            view.disk = Self.disk(dataDirectory: probe.dataDirectory, storeDirectory: probe.storeDirectory)
        }
        return view
    }

    static func queueSummary(_ queues: [AdminQueueView]) -> AdminStatusView.Queues {
        let nonEmpty = queues.filter { $0.total > 0 }
        let top = nonEmpty.sorted { ($0.total, $1.recipient) > ($1.total, $0.recipient) }.prefix(AdminStatusView.topQueueCount)
        return .init(
            queues: nonEmpty.count, ready: queues.reduce(0) { $0 + $1.ready }, inFlight: queues.reduce(0) { $0 + $1.inFlight },
            delayed: queues.reduce(0) { $0 + $1.delayed }, deadLettered: queues.reduce(0) { $0 + $1.deadLettered },
            top: Array(top))
    }

    static func expiry(_ certificate: Certificate, participant: String? = nil, now: Date) -> AdminStatusView.Expiry {
        let seconds = certificate.notAfter.timeIntervalSince(now)
        return .init(
            subject: certificate.subject, fingerprint: certificate.fingerprint.hex, notAfter: certificate.notAfter,
            daysLeft: Int((seconds / 86_400).rounded(.down)), participant: participant)
    }

    /// The registered certificate (of any participant that is not revoked) that expires first.
    static func earliestParticipantCertificate(_ participants: [Participant], now: Date) -> AdminStatusView.Expiry? {
        var earliest: (Certificate, String)?
        for participant in participants where participant.status != .revoked {
            for registered in participant.certificates {
                guard let certificate = try? Certificate(pem: registered.pem) else { continue }
                if earliest.map({ certificate.notAfter < $0.0.notAfter }) ?? true { earliest = (certificate, participant.id) }
            }
        }
        return earliest.map { expiry($0.0, participant: $0.1, now: now) }
    }

    /// Store size (allocated blocks of every file under the store, bounded walk) and the data file system's room.
    static func disk(dataDirectory: String, storeDirectory: String) -> AdminStatusView.Disk {
        var bytes: UInt64 = 0
        var files = 0
        var complete = true
        if let walker = FileManager.default.enumerator(atPath: storeDirectory) {
            while let relative = walker.nextObject() as? String {
                guard files < AdminStatusView.maximumStoreFiles else {
                    complete = false
                    break
                }
                var info = stat()
                guard lstat(storeDirectory + "/" + relative, &info) == 0, info.st_mode & S_IFMT == S_IFREG else { continue }
                files += 1
                // Allocated blocks, not the length: sparse or preallocated segments count as what they occupy.
                bytes += UInt64(max(0, info.st_blocks)) * 512
            }
        }
        var fs = statvfs()
        var available: UInt64 = 0
        var total: UInt64 = 0
        if statvfs(dataDirectory, &fs) == 0 {
            available = UInt64(fs.f_bavail) * UInt64(fs.f_frsize)
            total = UInt64(fs.f_blocks) * UInt64(fs.f_frsize)
        }
        return .init(
            dataDirectory: dataDirectory, storeBytes: bytes, storeFiles: files, storeBytesComplete: complete,
            filesystemAvailableBytes: available, filesystemTotalBytes: total)
    }
}
