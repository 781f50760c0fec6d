import Foundation
import Yams

/// A search-space file problem: names the file, the field path and what was expected.
public struct SpaceFileError: Error, CustomStringConvertible, Equatable {
    public var file: String
    public var field: String
    public var message: String
    public var description: String { field.isEmpty ? "\(file): \(message)" : "\(file): \(field): \(message)" }
}

/// Loads and validates search-space files (YAML, or JSON which is YAML too):
///
///     name: fmnist-shufflenet
///     input: {channels: 1, size: 28}
///     classes: 10
///     stem: {channels: 16, kernel: 3, stride: 1}
///     stages:
///       - {blocks: 2, stride: 2, widths: [32], operators: [shuffle3, xception], middle_ratios: [0.5, 1.0]}
///       # optional middle_widths: [9, 14]: per block, a middle width replacing the ratios' (pruned networks)
///       # optional depths: [1, 2, 3, 4]: elastic depth, the blocks past a candidate's depth skipped
///     head: {channels: 256}     # 0: no head convolution (pooling follows the last stage)
///     kernel_sharing: crop        # optional: none | crop (default) | transform
///     pruning_net: false          # optional: generated weights (MetaPruning)
///     channel_multiple: 8         # optional: middle widths rounded to multiples of 8 (stage widths must be)
///
/// Unknown fields are errors (a typo must not silently fall back to a default).
public enum SpaceFile {
    /// A space file is a few kilobytes; this bounds the time and memory a parse can take.
    public static let maxBytes = 1 << 20
    /// YAML aliases (`*name`) allowed: with at most 32, alias expansion stays below ~10^5
    /// nodes, so a "billion laughs" file is refused instead of expanded.
    public static let maxAliases = 32
    /// Kernel sharing of a space file that does not say (docs/supernet-quality.md measures why).
    public static let defaultKernelSharing = KernelSharing.centreCrop

    public static func load(_ path: String) throws -> SearchSpace {
        guard FileManager.default.fileExists(atPath: path) else {
            throw SpaceFileError(file: path, field: "", message: "file not found")
        }
        let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
        guard size <= maxBytes else {
            throw SpaceFileError(file: path, field: "", message: "\(size) bytes; a search-space file is at most \(maxBytes) bytes")
        }
        let text: String
        do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
            throw SpaceFileError(file: path, field: "", message: "cannot read as UTF-8 text")
        }
        return try parse(text, file: path)
    }

    public static func parse(_ text: String, file: String) throws -> SearchSpace {
        guard text.utf8.count <= maxBytes else {
            throw SpaceFileError(file: file, field: "", message: "\(text.utf8.count) bytes; a search-space file is at most \(maxBytes) bytes")
        }
        let aliases = aliasCount(text)
        guard aliases <= maxAliases else {
            throw SpaceFileError(file: file, field: "", message: "\(aliases) YAML aliases (*name); at most \(maxAliases) are allowed")
        }
        let root: Any?
        do { root = try Yams.load(yaml: text) } catch {
            let first = "\(error)".split(separator: "\n").first.map(String.init) ?? "\(error)"
            throw SpaceFileError(file: file, field: "", message: "not valid YAML/JSON (\(first))")
        }
        let r = Reader(file: file)
        let top = try r.mapping(root, "", keys: ["name", "input", "classes", "stem", "stages", "head", "kernel_sharing", "pruning_net", "channel_multiple"])
        let name = try r.string(top["name"], "name")
        let input = try r.mapping(top["input"], "input", keys: ["channels", "size"])
        let stemMap = try r.mapping(top["stem"], "stem", keys: ["channels", "kernel", "stride"])
        let headMap = try r.mapping(top["head"], "head", keys: ["channels"])
        guard let rawStages = top["stages"] as? [Any] else {
            throw r.error("stages", top["stages"] == nil ? "missing field" : "expected a list of stages")
        }
        guard !rawStages.isEmpty else { throw r.error("stages", "expected at least one stage") }
        var stages: [SearchSpace.Stage] = []
        for (i, raw) in rawStages.enumerated() {
            let p = "stages[\(i)]"
            let m = try r.mapping(raw, p, keys: ["blocks", "depths", "stride", "widths", "operators", "middle_ratios", "middle_widths"])
            let widths = try r.intList(m["widths"], p + ".widths", in: 1...SearchSpace.maxChannels)
            guard widths == widths.sorted(), Set(widths).count == widths.count else {
                throw r.error(p + ".widths", "expected strictly increasing channel counts, got \(widths)")
            }
            let names = try r.stringList(m["operators"], p + ".operators")
            var ops: [Operator] = []
            for (j, n) in names.enumerated() {
                guard let op = Operator(name: n) else {
                    throw r.error("\(p).operators[\(j)]", "unknown operator '\(n)' (expected \(Operator.nameHelp))")
                }
                guard !ops.contains(op) else { throw r.error("\(p).operators[\(j)]", "operator '\(n)' listed twice") }
                ops.append(op)
            }
            // Optional: operators without a middle width of their own (convK, dwsepK) ignore it.
            let ratios = try r.doubleList(m["middle_ratios"] ?? [1.0], p + ".middle_ratios")
            var tenths: [Int] = []
            for (j, v) in ratios.enumerated() {
                // Checked before converting: NaN, infinities and huge values trap in Int().
                guard v.isFinite, v >= 0.05, v <= 4.05 else {
                    throw r.error("\(p).middle_ratios[\(j)]", "expected a multiple of 0.1 in 0.1...4.0, got \(v)")
                }
                let t = Int((v * 10).rounded())
                guard abs(v * 10 - Double(t)) < 1e-6, t >= 1, t <= 40 else {
                    throw r.error("\(p).middle_ratios[\(j)]", "expected a multiple of 0.1 in 0.1...4.0, got \(v)")
                }
                tenths.append(t)
            }
            guard Set(tenths).count == tenths.count else { throw r.error(p + ".middle_ratios", "duplicate ratios \(ratios)") }
            // Elastic depth: `depths: [1, 2, 3, 4]`; `blocks` may then be left out (the largest depth).
            let depths = try m["depths"].map { try r.intList($0, p + ".depths", in: 1...SearchSpace.maxBlocksPerStage) }
            let blocks = try r.int(m["blocks"] ?? depths?.max(), p + ".blocks", in: 1...SearchSpace.maxBlocksPerStage)
            stages.append(SearchSpace.Stage(blocks: blocks,
                                            stride: try r.int(m["stride"], p + ".stride", in: 1...2),
                                            widths: widths, operators: ops, middleRatios: tenths.sorted(),
                                            middleWidths: try m["middle_widths"].map { try r.intList($0, p + ".middle_widths", in: 1...SearchSpace.maxChannels) },
                                            depths: depths))
        }
        var space = SearchSpace(
            name: name,
            inputChannels: try r.int(input["channels"], "input.channels", in: 1...64),
            inputSize: try r.int(input["size"], "input.size", in: 4...SearchSpace.maxInputSize),
            classes: try r.int(top["classes"], "classes", in: 2...SearchSpace.maxClasses),
            stem: SearchSpace.Stem(channels: try r.int(stemMap["channels"], "stem.channels", in: 1...SearchSpace.maxChannels),
                                   kernel: try r.int(stemMap["kernel"] ?? 3, "stem.kernel", in: 1...7, odd: true),
                                   stride: try r.int(stemMap["stride"] ?? 1, "stem.stride", in: 1...2)),
            stages: stages,
            head: SearchSpace.Head(channels: try r.int(headMap["channels"], "head.channels", in: 0...SearchSpace.maxHeadChannels)))
        if let raw = top["kernel_sharing"] {
            guard let name = raw as? String, let sharing = KernelSharing(rawValue: name) else {
                throw r.error("kernel_sharing", "expected \(KernelSharing.nameHelp), got '\(quoted(raw))'")
            }
            space.kernelSharing = sharing
        } else {
            space.kernelSharing = defaultKernelSharing
        }
        if let raw = top["pruning_net"] {
            guard let on = raw as? Bool else { throw r.error("pruning_net", "expected true or false, got '\(quoted(raw))'") }
            space.pruningNet = on
        }
        if let raw = top["channel_multiple"] { space.channelMultiple = try r.int(raw, "channel_multiple", in: 1...64) }
        try space.validate(file: file)
        return space
    }
}

extension SpaceFile {
    /// Upper bound of the aliases in a YAML text: every `*` that starts a token (one inside a
    /// quoted string is counted too, which only errs on the safe side).
    static func aliasCount(_ text: String) -> Int {
        var count = 0
        var previous: UInt8 = 0x20
        for c in text.utf8 {
            if c == 0x2A, [0x20, 0x0A, 0x09, 0x5B, 0x2C, 0x7B, 0x3A, 0x2D].contains(previous) { count += 1 }
            previous = c
        }
        return count
    }
}

extension SearchSpace {
    /// Cross-field rules: ShuffleNet splits need even widths; a ShuffleNet block whose input
    /// and output widths can differ needs stride 2 and output > input (its main branch makes
    /// output - input channels); the resolution must not vanish.
    public func checkStructure(file: String) throws {
        func fail(_ field: String, _ message: String) -> SpaceFileError { SpaceFileError(file: file, field: field, message: message) }
        for slot in blocks {
            let p = "stages[\(slot.stage)]"
            guard slot.inputSize >= 1 && slot.outputSize >= 1 else {
                throw fail(p + ".stride", "resolution falls below 1 pixel at block \(slot.index)")
            }
            guard slot.operators.contains(where: { $0.plan.join == .shuffle }) else { continue }
            if slot.widthPreserving || (slot.stride == 1 && slot.inputWidths == slot.outputWidths && slot.inputWidths.count == 1) {
                if let odd = slot.outputWidths.first(where: { $0 % 2 != 0 }) {
                    throw fail(p + ".widths", "ShuffleNet blocks split channels in half: width \(odd) is odd")
                }
            } else {
                guard slot.stride == 2 else {
                    throw fail(p + ".stride", "a ShuffleNet block changing width (\(slot.inputWidths) -> \(slot.outputWidths)) needs stride 2")
                }
                guard slot.outputWidths.min()! > slot.inputWidths.max()! else {
                    throw fail(p + ".widths", "ShuffleNet stride-2 blocks need every output width above every input width (inputs \(slot.inputWidths), outputs \(slot.outputWidths))")
                }
            }
        }
    }
}

/// Typed access to the parsed YAML tree with field-path errors.
struct Reader {
    let file: String

    func error(_ field: String, _ message: String) -> SpaceFileError { SpaceFileError(file: file, field: field, message: message) }

    func mapping(_ value: Any?, _ path: String, keys: Set<String>) throws -> [String: Any] {
        guard let value else { throw error(path, "missing field") }
        guard let m = value as? [String: Any] else { throw error(path, "expected a mapping with fields \(keys.sorted().joined(separator: ", "))") }
        if let unknown = m.keys.sorted().first(where: { !keys.contains($0) }) {
            throw error(path.isEmpty ? unknown : "\(path).\(unknown)", "unknown field (expected one of \(keys.sorted().joined(separator: ", ")))")
        }
        return m
    }

    func string(_ value: Any?, _ path: String) throws -> String {
        guard let value else { throw error(path, "missing field") }
        guard let s = value as? String, !s.isEmpty else { throw error(path, "expected a non-empty string") }
        return s
    }

    func int(_ value: Any?, _ path: String, in range: ClosedRange<Int>, odd: Bool = false) throws -> Int {
        guard let value else { throw error(path, "missing field") }
        guard let v = value as? Int else { throw error(path, "expected an integer, got '\(quoted(value))'") }
        guard range.contains(v) else { throw error(path, "expected \(range.lowerBound)...\(range.upperBound), got \(v)") }
        if odd && v % 2 == 0 { throw error(path, "expected an odd kernel size, got \(v)") }
        return v
    }

    func intList(_ value: Any?, _ path: String, in range: ClosedRange<Int>) throws -> [Int] {
        guard let value else { throw error(path, "missing field") }
        guard let list = value as? [Any], !list.isEmpty else { throw error(path, "expected a non-empty list of integers") }
        return try list.enumerated().map { i, v in
            guard let n = v as? Int, range.contains(n) else {
                throw error("\(path)[\(i)]", "expected an integer in \(range.lowerBound)...\(range.upperBound), got '\(quoted(v))'")
            }
            return n
        }
    }

    func stringList(_ value: Any?, _ path: String) throws -> [String] {
        guard let value else { throw error(path, "missing field") }
        guard let list = value as? [Any], !list.isEmpty else { throw error(path, "expected a non-empty list of names") }
        return try list.enumerated().map { i, v in
            guard let s = v as? String else { throw error("\(path)[\(i)]", "expected a name, got '\(quoted(v))'") }
            return s
        }
    }

    func doubleList(_ value: Any?, _ path: String) throws -> [Double] {
        guard let value else { throw error(path, "missing field") }
        guard let list = value as? [Any], !list.isEmpty else { throw error(path, "expected a non-empty list of numbers") }
        return try list.enumerated().map { i, v in
            if let d = v as? Double { return d }
            if let n = v as? Int { return Double(n) }
            throw error("\(path)[\(i)]", "expected a number, got '\(quoted(v))'")
        }
    }
}
