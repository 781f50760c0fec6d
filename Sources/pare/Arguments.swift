import ArgumentParser
import Workflows
import Search
import Spaces

/// A count option ("3M", "800K", "2500000") for `@Option(transform:)`: refused at parse time,
/// before anything loads.
func countArgument(_ text: String) throws -> Int {
    guard let v = parseCount(text), v > 0 else { throw ValidationError("'\(quoted(text))' is not a count like 3M or 800K") }
    return v
}

/// A byte count (`--max-peak-memory`, `--max-flash`): 32KB, 64KiB, 20000.
func bytesArgument(_ text: String) throws -> Int {
    guard let v = parseBytes(text) else { throw ValidationError("'\(quoted(text))' is not a size like 32KB, 64KiB or 20000 (bytes)") }
    return v
}

/// A moving-average decay (`--ema`, of pare finetune and pare prune) in (0, 1).
func emaDecayArgument(_ text: String) throws -> Float {
    guard let v = Float(text), v > 0 && v < 1 else { throw ValidationError("--ema must be a decay in (0, 1), e.g. 0.999; got '\(quoted(text))'") }
    return v
}

/// A duration option ("1.2ms", "800us") in milliseconds.
func durationArgument(_ text: String) throws -> Double {
    guard let v = parseMilliseconds(text) else { throw ValidationError("'\(quoted(text))' is not a duration like 1.2ms or 800us") }
    return v
}

/// A cost target ("50%" of the model's, or a count such as 15M), with the reason when not.
func costArgument(_ text: String) throws -> CostAmount {
    if let amount = CostAmount(text) { return amount }
    throw ValidationError(text.hasSuffix("%") ? "'\(quoted(text))' is not a percentage in (0, 100]" : "'\(quoted(text))' is not a percentage (50%) or a count (15M)")
}
