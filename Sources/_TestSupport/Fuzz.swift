import Foundation

/// Seeded mutations of valid inputs for the parser fuzz tests: truncation, flipped and
/// inserted bytes, extreme numbers (huge, negative, NaN, infinity), wrong types, huge
/// lengths. `PARE_FUZZ_SEED` and `PARE_FUZZ_CASES` run other or longer campaigns
/// (docs/design.md).
public struct Fuzzer {
    private var state: UInt64
    public let cases: Int
    public let seed: UInt64

    /// `defaultCases` unless PARE_FUZZ_CASES says otherwise; seed from PARE_FUZZ_SEED,
    /// mixed with `salt` so each parser gets its own stream.
    public init(salt: UInt64, defaultCases: Int = 300) {
        let env = ProcessInfo.processInfo.environment
        seed = (env["PARE_FUZZ_SEED"].flatMap(UInt64.init) ?? 20261124) ^ (salt &* 0x9E37_79B9_7F4A_7C15)
        cases = env["PARE_FUZZ_CASES"].flatMap(Int.init) ?? defaultCases
        state = seed | 1
    }

    public mutating func next() -> UInt64 {
        // splitmix64
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    public mutating func int(below n: Int) -> Int { n <= 1 ? 0 : Int(next() % UInt64(n)) }
    public mutating func pick<T>(_ items: [T]) -> T { items[int(below: items.count)] }

    /// Tokens that break parsers: extremes, non-finite numbers, wrong types, long runs.
    public static let hostileTokens = ["0", "-1", "-2147483648", "4294967295", "4000000000", "9223372036854775807",
                                       "-9223372036854775808", "18446744073709551616", "1e19", "1e300", "-1e300", "nan", ".nan",
                                       "inf", ".inf", "-.inf", "NaN", "\"x\"", "[]", "{}", "null", "true", "0.0001", "3.5",
                                       "[1, 2]", "''", String(repeating: "9", count: 40)]

    /// A text with one to three mutations: a number replaced by a hostile token, a line
    /// dropped or repeated, the text cut, or a character changed.
    public mutating func mutate(text: String) -> String {
        var s = Array(text.unicodeScalars)
        for _ in 0...int(below: 3) {
            guard !s.isEmpty else { break }
            switch int(below: 6) {
            case 0, 1:  // a number -> hostile token
                let digits = s.indices.filter { s[$0].properties.numericType != nil }
                guard let at = digits.isEmpty ? nil : pick(digits) else { continue }
                var lo = at, hi = at
                while lo > 0, s[lo - 1].properties.numericType != nil || s[lo - 1] == "." { lo -= 1 }
                while hi + 1 < s.count, s[hi + 1].properties.numericType != nil || s[hi + 1] == "." { hi += 1 }
                s.replaceSubrange(lo...hi, with: Array(pick(Self.hostileTokens).unicodeScalars))
            case 2:  // drop or repeat a line
                var lines = String(String.UnicodeScalarView(s)).split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
                let i = int(below: lines.count)
                if int(below: 2) == 0 { lines.remove(at: i) } else { lines.insert(lines[i], at: i) }
                s = Array(lines.joined(separator: "\n").unicodeScalars)
            case 3:  // cut
                s = Array(s.prefix(int(below: s.count)))
            case 4:  // one character changed
                s[int(below: s.count)] = pick(["x", "-", ":", "[", "]", "{", "}", ",", "@", "/", "*", "&", "\n", " ", "0", "9"])
            default:  // a hostile token inserted anywhere
                s.insert(contentsOf: Array(pick(Self.hostileTokens).unicodeScalars), at: int(below: s.count + 1))
            }
        }
        return String(String.UnicodeScalarView(s))
    }

    /// Bytes with one to three mutations: cut, bytes flipped or set to extremes (0x00, 0x7F,
    /// 0x80, 0xFF — a header's size field becomes huge or negative), or bytes inserted.
    public mutating func mutate(bytes input: [UInt8], headerBytes: Int = 32) -> [UInt8] {
        var b = input
        for _ in 0...int(below: 3) {
            guard !b.isEmpty else { break }
            switch int(below: 5) {
            case 0: b = Array(b.prefix(int(below: b.count)))
            case 1: b[int(below: min(b.count, headerBytes))] = pick([0x00, 0x01, 0x7F, 0x80, 0xFF])
            case 2: b[int(below: b.count)] ^= UInt8(truncatingIfNeeded: 1 << int(below: 8))
            case 3:
                let at = int(below: min(b.count, headerBytes))
                for k in at..<min(b.count, at + 4) { b[k] = 0xFF }
            default: b.insert(contentsOf: [UInt8](repeating: UInt8(truncatingIfNeeded: next()), count: 1 + int(below: 16)), at: int(below: b.count + 1))
            }
        }
        return b
    }
}

/// Runs `body`; its result and the seconds it took (a parser must answer quickly,
/// whatever it is given).
public func timed<T>(_ body: () throws -> T) rethrows -> (T, seconds: Double) {
    let start = Date()
    let r = try body()
    return (r, Date().timeIntervalSince(start))
}
