import Export
import Foundation

/// The weight file `--weights` names in a model directory: nil for the exported (inherited)
/// weights, the finetuned or scratch file (which must exist), or an existing file's absolute
/// path. With no option: the finetuned weights if present, else the exported ones.
func resolveWeights(_ weights: String?, in dir: ModelDirectory, defaultFinetuned: Bool = true) throws -> String? {
    switch weights {
    case nil:
        let finetuned = FileManager.default.fileExists(atPath: dir.file(ModelDirectory.finetunedFile))
        return defaultFinetuned && finetuned ? ModelDirectory.finetunedFile : nil
    case "exported": return nil
    case "finetuned", "scratch", "qat":
        let name = weights == "finetuned" ? ModelDirectory.finetunedFile : weights == "qat" ? ModelDirectory.qatFile : ModelDirectory.scratchFile
        guard FileManager.default.fileExists(atPath: dir.file(name)) else {
            let flag = weights == "scratch" ? " --from-scratch" : weights == "qat" ? " --qat" : ""
            throw UserError("\(dir.file(name)): not found; run pare finetune \(dir.path)\(flag) first")
        }
        return name
    case let path?:
        guard FileManager.default.fileExists(atPath: path) else {
            throw UserError("--weights: '\(path)' is neither exported, finetuned, scratch, qat nor an existing file")
        }
        // An absolute path survives ModelDirectory.file's joining.
        return URL(fileURLWithPath: path).standardizedFileURL.path
    }
}

/// exported, finetuned, scratch, or a weight file's base name.
func weightsLabel(of name: String?) -> String {
    switch name {
    case nil: return "exported"
    case ModelDirectory.finetunedFile?: return "finetuned"
    case ModelDirectory.scratchFile?: return "scratch"
    case ModelDirectory.qatFile?: return "qat"
    case let n?: return ((n as NSString).lastPathComponent as NSString).deletingPathExtension
    }
}
