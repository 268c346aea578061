import Foundation
import KlammerProtocol

/// One authority of Mecklenburg-Vorpommern in the simulated network.
struct Member: Sendable, Hashable {
    enum Kind: String, Sendable { case ministry, city, district, amt, municipality, agency, archive }
    let id: String
    let name: String
    let kind: Kind
    /// The Landkreis (or the city itself) the member belongs to; nil for the ministry and state agencies.
    let district: String?
    var directoryName: String { id.replacingOccurrences(of: ":", with: "_") }
    var participantID: ParticipantID { try! ParticipantID(id) }  // every id in MVDirectory is valid
}

/// The test sizes: `ci` (default, runs inside `swift test`) and `large` (`KLAMMER_INTEGRATION_SIZE=large`).
struct Size: Sendable {
    let name: String
    let municipalitiesPerDistrict: Int
    let aemterPerDistrict: Int
    let registrationsPerDirection: Int
    let registrationPairs: Int
    let buildingApplications: Int
    let attachmentBytes: Int
    let tradeNotices: Int
    let crashCycles: Int
    let slowMessages: Int
    let slowMessageBytes: Int
    let opensslSample: Int
    /// The one very large building application (`gibBuildingApplication`), streamed from and to disk.
    let largeDocumentBytes: Int
    /// Pause between broker kills in `workflowsSurviveBrokerKills` / `combinedFaults`.
    let crashInterval: Duration
    let deadline: Duration

    var totalWorkflowMessages: Int { registrationPairs * 2 * registrationsPerDirection + buildingApplications * 3 + tradeNotices + 2 }

    static let ci = Size(
        name: "ci", municipalitiesPerDistrict: 5, aemterPerDistrict: 1, registrationsPerDirection: 6,
        registrationPairs: 12, buildingApplications: 8, attachmentBytes: 400_000, tradeNotices: 8,
        crashCycles: 2, slowMessages: 48, slowMessageBytes: 512 * 1024, opensslSample: 8,
        largeDocumentBytes: 24 << 20, crashInterval: .milliseconds(2500), deadline: .seconds(150))
    /// For measuring throughput (`KLAMMER_INTEGRATION_SIZE=medium`): the large network, ~20,000 messages.
    static let medium = Size(
        name: "medium", municipalitiesPerDistrict: 40, aemterPerDistrict: 3, registrationsPerDirection: 40,
        registrationPairs: 240, buildingApplications: 24, attachmentBytes: 1_000_000, tradeNotices: 50,
        crashCycles: 4, slowMessages: 100, slowMessageBytes: 1024 * 1024, opensslSample: 30,
        largeDocumentBytes: 256 << 20, crashInterval: .seconds(5), deadline: .seconds(1200))
    static let large = Size(
        name: "large", municipalitiesPerDistrict: 40, aemterPerDistrict: 3, registrationsPerDirection: 210,
        registrationPairs: 240, buildingApplications: 120, attachmentBytes: 6_000_000, tradeNotices: 150,
        crashCycles: 22, slowMessages: 400, slowMessageBytes: 1024 * 1024, opensslSample: 60,
        largeDocumentBytes: 1 << 30, crashInterval: .seconds(3), deadline: .seconds(3600))

    static var current: Size {
        switch ProcessInfo.processInfo.environment["KLAMMER_INTEGRATION_SIZE"] {
        case "large": .large
        case "medium": .medium
        default: .ci
        }
    }
}

/// The authorities: the ministry, the 2 kreisfreie Städte, the 6 Landkreise, Ämter and municipalities under them
/// (real AGS where known, then generated ones in the same district's key range), and state agencies that receive
/// trade notices.
enum MVDirectory {
    static let ministry = Member(
        id: "ags:13000000", name: "Ministerium fuer Inneres, Bau und Digitalisierung MV", kind: .ministry, district: nil)
    static let cities = [
        Member(id: "ags:13003000", name: "Hanse- und Universitaetsstadt Rostock", kind: .city, district: "ags:13003000"),
        Member(id: "ags:13004000", name: "Landeshauptstadt Schwerin", kind: .city, district: "ags:13004000")
    ]
    static let districts: [(Member, amt: [String], towns: [String])] = [
        (
            Member(id: "ags:13071000", name: "Landkreis Mecklenburgische Seenplatte", kind: .district, district: "ags:13071000"),
            ["Stavenhagen", "Treptower Tollensewinkel", "Seenlandschaft Waren"],
            ["Neubrandenburg", "Waren (Mueritz)", "Neustrelitz", "Demmin", "Malchin", "Stavenhagen", "Altentreptow", "Penzlin"]
        ),
        (
            Member(id: "ags:13072000", name: "Landkreis Rostock", kind: .district, district: "ags:13072000"),
            ["Bad Doberan-Land", "Guestrow-Land", "Schwaan"],
            ["Guestrow", "Bad Doberan", "Teterow", "Kuehlungsborn", "Sanitz", "Satow", "Kroepelin", "Laage"]
        ),
        (
            Member(id: "ags:13073000", name: "Landkreis Vorpommern-Ruegen", kind: .district, district: "ags:13073000"),
            ["Bergen auf Ruegen", "Franzburg-Richtenberg", "Barth"],
            ["Stralsund", "Bergen auf Ruegen", "Ribnitz-Damgarten", "Grimmen", "Barth", "Sassnitz", "Putbus", "Binz"]
        ),
        (
            Member(id: "ags:13074000", name: "Landkreis Nordwestmecklenburg", kind: .district, district: "ags:13074000"),
            ["Grevesmuehlen-Land", "Kluetzer Winkel", "Neukloster-Warin"],
            ["Hansestadt Wismar", "Grevesmuehlen", "Gadebusch", "Rehna", "Kluetz", "Dassow", "Schoenberg", "Neukloster"]
        ),
        (
            Member(id: "ags:13075000", name: "Landkreis Vorpommern-Greifswald", kind: .district, district: "ags:13075000"),
            ["Am Stettiner Haff", "Anklam-Land", "Usedom-Sued"],
            [
                "Universitaets- und Hansestadt Greifswald", "Anklam", "Pasewalk", "Wolgast", "Ueckermuende", "Torgelow", "Strasburg",
                "Heringsdorf"
            ]
        ),
        (
            Member(id: "ags:13076000", name: "Landkreis Ludwigslust-Parchim", kind: .district, district: "ags:13076000"),
            ["Hagenow-Land", "Ludwigslust-Land", "Crivitz"],
            ["Ludwigslust", "Parchim", "Hagenow", "Boizenburg/Elbe", "Luebz", "Crivitz", "Sternberg", "Grabow"]
        )
    ]
    /// Registered in every scenario but never fetching: the control documents of the plaintext scan wait there
    /// (undelivered, so certainly still in the broker's data directory).
    static let archive = Member(id: "lha:mv", name: "Landeshauptarchiv Schwerin", kind: .archive, district: nil)
    static let agencies = [
        Member(id: "ihk:rostock", name: "IHK zu Rostock", kind: .agency, district: nil),
        Member(id: "hwk:omv", name: "Handwerkskammer Ostmecklenburg-Vorpommern", kind: .agency, district: nil),
        Member(id: "fa:4079", name: "Finanzamt Rostock", kind: .agency, district: nil),
        Member(id: "lgeo:mv", name: "Landesamt fuer innere Verwaltung MV", kind: .agency, district: nil)
    ]

    /// All members for a size: ministry, agencies, cities, districts, then per district its Ämter and municipalities.
    static func members(_ size: Size) -> [Member] {
        var members = [ministry] + agencies + [archive] + cities
        for (index, entry) in districts.enumerated() {
            let (district, aemter, towns) = entry
            members.append(district)
            let key = 13071 + index
            for a in 0..<size.aemterPerDistrict {
                let name = a < aemter.count ? "Amt \(aemter[a])" : "Amt \(district.name.dropFirst(10)) \(a + 1)"
                members.append(Member(id: "amt:\(key)5\(String(format: "%03d", a + 1))", name: name, kind: .amt, district: district.id))
            }
            for m in 0..<size.municipalitiesPerDistrict {
                let name = m < towns.count ? "Stadt \(towns[m])" : "Gemeinde \(m + 1) im \(district.name)"
                members.append(
                    Member(
                        id: "ags:\(key)\(String(format: "%03d", 101 + m))", name: String(name.prefix(64)), kind: .municipality,
                        district: district.id))
            }
        }
        return members
    }
}

/// The PKI of the simulated state, made with the real `klammerctl pki` (init, one `issue` per member and one for
/// the broker, crl). Built once per test process and shared by all tests (read-only afterwards).
struct NetworkPKI: Sendable {
    let directory: String
    let members: [Member]
    var caPath: String { directory + "/ca/ca.pem" }
    var crlPath: String { directory + "/ca/crl.pem" }
    var brokerCert: String { directory + "/broker/cert.pem" }
    var brokerKey: String { directory + "/broker/key.pem" }
    func certPath(_ id: String) -> String { directory + "/ids/\(id.replacingOccurrences(of: ":", with: "_"))/cert.pem" }
    func keyPath(_ id: String) -> String { directory + "/ids/\(id.replacingOccurrences(of: ":", with: "_"))/key.pem" }

    /// Extra certificates for the attack tests: an impostor with a valid certificate of the same CA that is
    /// never registered.
    static let impostor = Member(id: "ags:13999999", name: "Unregistrierte Gemeinde", kind: .municipality, district: nil)

    static func build(size: Size) throws -> NetworkPKI {
        let root = "/tmp/kint-pki-\(size.name)-\(getpid())"
        try? FileManager.default.removeItem(atPath: root)
        try FileManager.default.createDirectory(
            atPath: root + "/ids", withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let ca = root + "/ca"
        try Tool.klammerctl(["pki", "init", "--dir", ca, "--name", "Klammer Test-CA Land MV"])
        try Tool.klammerctl([
            "pki", "issue", "--dir", ca, "--id", "broker:klammer-mv", "--name", "klammer-mv", "--usage", "server",
            "--out", root + "/broker"
        ])
        let members = MVDirectory.members(size)
        for member in members + [impostor] {
            try Tool.klammerctl([
                "pki", "issue", "--dir", ca, "--id", member.id, "--name", String(member.name.prefix(64)),
                "--out", root + "/ids/" + member.directoryName
            ])
        }
        try Tool.klammerctl(["pki", "crl", "--dir", ca])
        return NetworkPKI(directory: root, members: members)
    }
}

/// Shared, built on first use; removed when the test process exits.
enum SharedPKI {
    static let task = Task { () throws -> NetworkPKI in
        let pki = try NetworkPKI.build(size: .current)
        sharedRoot = pki.directory
        atexit {
            if ProcessInfo.processInfo.environment["KLAMMER_INTEGRATION_KEEP"] == nil, let root = SharedPKI.sharedRoot {
                try? FileManager.default.removeItem(atPath: root)
            }
        }
        return pki
    }
    // Written once inside `task` before anything reads it (atexit only), never changed afterwards.
    nonisolated(unsafe) static var sharedRoot: String?

    static func get() async throws -> NetworkPKI { try await task.value }
}
