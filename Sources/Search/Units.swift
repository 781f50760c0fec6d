import Foundation

// Budget values as users type them on the command line, parsed without traps: a value
// that is not finite or out of range is nil (the caller names the option).

/// "3M", "800K", "1.5G", "2500000" -> count.
public func parseCount(_ text: String) -> Int? {
    let t = text.trimmingCharacters(in: .whitespaces).uppercased()
    let scale: Double
    var digits = Substring(t)
    switch t.last {
    case "K": scale = 1e3; digits = digits.dropLast()
    case "M": scale = 1e6; digits = digits.dropLast()
    case "G": scale = 1e9; digits = digits.dropLast()
    default: scale = 1
    }
    // Bounded before converting (a huge value traps in Int()): 1e15 MACs is far beyond any space.
    guard let v = Double(digits), v >= 0, v.isFinite, v * scale <= 1e15 else { return nil }
    return Int((v * scale).rounded())
}

/// "1.2ms", "800us", "0.5s", "2" (milliseconds) -> milliseconds.
public func parseMilliseconds(_ text: String) -> Double? {
    let t = text.trimmingCharacters(in: .whitespaces).lowercased()
    let (digits, scale): (Substring, Double) =
        t.hasSuffix("ms") ? (t.dropLast(2), 1) : t.hasSuffix("us") ? (t.dropLast(2), 1e-3) : t.hasSuffix("s") ? (t.dropLast(1), 1e3) : (Substring(t), 1)
    guard let v = Double(digits), v > 0, v.isFinite, v * scale <= 1e9 else { return nil }
    return v * scale
}
