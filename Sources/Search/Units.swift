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

/// "32KB", "64KiB", "1.5MB", "20000" (bytes) -> bytes. KB and MB are 1000-based, KiB and
/// MiB 1024-based (microcontroller datasheets use both).
public func parseBytes(_ text: String) -> Int? {
    let t = text.trimmingCharacters(in: .whitespaces).uppercased()
    var digits = Substring(t)
    var scale = 1.0
    for (suffix, factor) in [("KIB", 1024.0), ("MIB", 1024.0 * 1024), ("KB", 1e3), ("MB", 1e6), ("K", 1e3), ("M", 1e6), ("B", 1)] where t.hasSuffix(suffix) {
        digits = digits.dropLast(suffix.count)
        scale = factor
        break
    }
    // At least one byte once rounded ("0.3" is not a size); bounded before converting.
    guard let v = Double(digits.trimmingCharacters(in: .whitespaces)), v.isFinite, v * scale >= 0.5, v * scale <= 1e12 else { return nil }
    return Int((v * scale).rounded())
}

/// Bytes as people read them: 812 B, 31.7 KiB, 1.20 MiB.
public func readableBytes(_ bytes: Int) -> String {
    let b = Double(bytes)
    if b < 1024 { return "\(bytes) B" }
    if b < 1024 * 1024 { return String(format: "%.1f KiB", b / 1024) }
    return String(format: "%.2f MiB", b / 1024 / 1024)
}
