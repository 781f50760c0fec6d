import CGSL
import Foundation

/// The engine's one random source: GSL's mt19937, passed explicitly to whatever draws.
/// Its full state can be captured and restored, so a resumed run continues the exact
/// stream. Normal draws use Box-Muller without caching the second value, so the GSL state
/// is the whole state.
public final class RNG {
    private let rng: UnsafeMutablePointer<gsl_rng>

    public init(seed: UInt64) {
        gsl_set_error_handler_off()
        rng = gsl_rng_alloc(pare_gsl_mt19937())
        // mt19937 in GSL takes an unsigned long seed; 0 selects GSL's default seed 4357.
        gsl_rng_set(rng, UInt(truncatingIfNeeded: seed))
    }

    deinit { gsl_rng_free(rng) }

    /// Uniform in [0, 1).
    @inlinable public func uniform() -> Double { uniformRaw() }

    @usableFromInline func uniformRaw() -> Double { gsl_rng_uniform(rng) }

    /// Uniform integer in 0..<n (n >= 1), unbiased.
    public func int(below n: Int) -> Int {
        precondition(n >= 1, "int(below:) needs n >= 1, got \(n)")
        return Int(gsl_rng_uniform_int(rng, UInt(n)))
    }

    /// Standard normal draw (Box-Muller, one value per two uniforms).
    public func normal() -> Double {
        var u1 = uniformRaw()
        while u1 <= 0 { u1 = uniformRaw() }
        let u2 = uniformRaw()
        return (-2 * Foundation.log(u1)).squareRoot() * cos(2 * Double.pi * u2)
    }

    /// Fisher-Yates shuffle driven by this generator.
    public func shuffle<T>(_ array: inout [T]) {
        guard array.count > 1 else { return }
        for i in stride(from: array.count - 1, to: 0, by: -1) {
            array.swapAt(i, int(below: i + 1))
        }
    }

    /// A random permutation of 0..<n.
    public func permutation(_ n: Int) -> [Int] {
        var p = Array(0..<n)
        shuffle(&p)
        return p
    }

    /// The generator's complete state as bytes.
    public var state: [UInt8] {
        let size = gsl_rng_size(rng)
        let raw = gsl_rng_state(rng)!
        return Array(UnsafeRawBufferPointer(start: raw, count: size))
    }

    /// Restores a state captured with `state`. Throws when the byte count is not the
    /// generator's state size (a state from another generator or a truncated file).
    public func restore(_ bytes: [UInt8]) throws {
        let size = gsl_rng_size(rng)
        guard bytes.count == size else { throw RNGError.stateSize(expected: size, got: bytes.count) }
        let raw = gsl_rng_state(rng)!
        bytes.withUnsafeBytes { raw.copyMemory(from: $0.baseAddress!, byteCount: size) }
    }
}

public enum RNGError: Error, CustomStringConvertible {
    case stateSize(expected: Int, got: Int)
    public var description: String {
        switch self {
        case let .stateSize(expected, got): return "RNG state has \(got) bytes, expected \(expected) (mt19937)"
        }
    }
}
