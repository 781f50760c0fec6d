import Export
import Foundation

/// The weights of a model directory a workflow uses: what `pare export` wrote, what
/// `pare finetune` wrote (plain, from scratch or quantization-aware), or any weight file.
public enum WeightsChoice: Equatable, Sendable {
    case exported, finetuned, scratch, qat
    case file(String)

    /// A name (exported, finetuned, scratch, qat) or else a file path.
    public init(_ text: String) {
        switch text {
        case "exported": self = .exported
        case "finetuned": self = .finetuned
        case "scratch": self = .scratch
        case "qat": self = .qat
        default: self = .file(text)
        }
    }

    /// The file `pare finetune` writes for this choice, and the flag that makes it.
    var finetunedFile: (name: String, flag: String)? {
        switch self {
        case .finetuned: return (ModelDirectory.finetunedFile, "")
        case .scratch: return (ModelDirectory.scratchFile, " --from-scratch")
        case .qat: return (ModelDirectory.qatFile, " --qat")
        case .exported, .file: return nil
        }
    }
}

/// The weight file `choice` names in a model directory: nil for the exported (inherited)
/// weights, the finetuned, scratch or qat file (which must exist), or an existing file's
/// absolute path. With no choice: the finetuned weights if present, else the exported ones.
public func resolveWeights(_ choice: WeightsChoice?, in dir: ModelDirectory, defaultFinetuned: Bool = true) throws -> String? {
    switch choice {
    case nil:
        let finetuned = FileManager.default.fileExists(atPath: dir.file(ModelDirectory.finetunedFile))
        return defaultFinetuned && finetuned ? ModelDirectory.finetunedFile : nil
    case .exported?: return nil
    case .file(let path)?:
        guard FileManager.default.fileExists(atPath: path) else {
            throw UserError("--weights: '\(path)' is neither exported, finetuned, scratch, qat nor an existing file")
        }
        // An absolute path survives ModelDirectory.file's joining.
        return URL(fileURLWithPath: path).standardizedFileURL.path
    case let c?:
        let (name, flag) = c.finetunedFile!
        guard FileManager.default.fileExists(atPath: dir.file(name)) else {
            throw UserError("\(dir.file(name)): not found; run pare finetune \(dir.path)\(flag) first")
        }
        return name
    }
}

/// exported, finetuned, scratch, qat, or a weight file's base name.
public func weightsLabel(of name: String?) -> String {
    switch name {
    case nil: return "exported"
    case ModelDirectory.finetunedFile?: return "finetuned"
    case ModelDirectory.scratchFile?: return "scratch"
    case ModelDirectory.qatFile?: return "qat"
    case let n?: return ((n as NSString).lastPathComponent as NSString).deletingPathExtension
    }
}
