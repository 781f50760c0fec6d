/// Statistics of one benchmark row, with the peer's JSON keys.
public struct Summary: Codable, Sendable {
    public var median: Double
    public var min: Double
    public var max: Double
    public var n: Int
    public var all: [Double]
    public var foreignCores: [Double]
    /// Median over the repeats during which other processes used < 0.15 core.
    public var quietMedian: Double?
    public var quietN: Int

    enum CodingKeys: String, CodingKey {
        case median, min, max, n, all
        case foreignCores = "foreign_cores"
        case quietMedian = "quiet_median"
        case quietN = "quiet_n"
    }

    static let quietThreshold = 0.15

    init(values: [Double], foreign: [Double]) {
        precondition(!values.isEmpty, "summary of no values")
        median = Summary.median(values)
        min = values.min()!
        max = values.max()!
        n = values.count
        all = values
        foreignCores = foreign.map { ($0 * 100).rounded() / 100 }
        let quiet = zip(values, foreign).filter { $0.1 < Summary.quietThreshold }.map(\.0)
        quietN = quiet.count
        quietMedian = quiet.isEmpty ? nil : Summary.median(quiet)
    }

    static func median(_ v: [Double]) -> Double {
        let s = v.sorted()
        return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
    }
}
