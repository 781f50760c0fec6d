import ArgumentParser
import Networks
import Workflows

struct ExportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Take one architecture out of a run's supernet as a standalone model (sliced weights, model.json, ONNX).",
        discussion: """
        Recalibrates BN for the architecture exactly as `pare search` scores it (same calibration images for the \
        same --seed and --calibration-images), slices every tensor to the architecture's widths and writes \
        DIR/model.json, DIR/model.safetensors (PyTorch names: blocks.3.main.pw1.weight, ...running_mean), with \
        --folded DIR/model.folded.safetensors (BN folded into each conv) and with --onnx DIR/model.onnx (opset 13; \
        input: NCHW float pixels in [0, 1]; output: logits). model.json describes every layer and records which \
        weights each file holds. `pare export --model DIR --weights finetuned --onnx --folded` writes the inference \
        files of other weights of an exported model (DIR/model.finetuned.onnx, model.finetuned.folded.safetensors).
        """)

    @Option(name: .customLong("run"), help: "Run directory with a trained supernet.") var runDirectory: String?
    @Option(name: .customLong("model"), help: "An exported model directory: write --onnx / --folded files of its --weights instead.")
    var modelDirectory: String?
    @Option(help: "With --model: exported, finetuned (default), scratch or a .safetensors file.") var weights: WeightsChoice?
    @Option(help: "'best' (the search's best.json), 'largest' or 'smallest' (the space's), a file (best.json, architecture JSON or text) or the text form itself.")
    var arch = ArchitectureChoice.best
    @Option(help: "With --arch best: the search named NAME (RUN/search-NAME).") var search: String?
    @Option(help: "Output directory (default RUN/export, or RUN/export-NAME with --search NAME).") var out: String?
    @Flag(help: "Also write the BN-folded inference weights.") var folded = false
    @Flag(help: "Also write model.onnx.") var onnx = false
    @Option(help: "Training images for BN recalibration (default 2560, as pare search).") var calibrationImages = CalibrationSet.defaultImages
    @Option(help: "Seed of the calibration images (default 0, as pare search).") var seed: UInt64 = 0
    @Option(help: "Engine threads (default: all cores).") var threads: Int?

    func validate() throws {
        guard (runDirectory == nil) != (modelDirectory == nil) else {
            throw ValidationError("pass either --run RUN (export from a supernet) or --model DIR (inference files of an exported model)")
        }
        if modelDirectory != nil && !(onnx || folded) { throw ValidationError("--model needs --onnx and/or --folded") }
        if modelDirectory == nil && weights != nil { throw ValidationError("--weights needs --model DIR") }
        guard calibrationImages >= 1 else { throw ValidationError("--calibration-images must be at least 1, got \(calibrationImages)") }
    }

    func run() throws {
        try reportingErrors {
            let engine = startEngine(threads: threads)
            if let modelDirectory {
                var r = InferenceFilesRequest(model: modelDirectory)
                r.weights = weights ?? .finetuned
                r.folded = folded; r.onnx = onnx
                let written = try writeInferenceFiles(r, engine: engine)
                print("\(written.weights) weights of \(written.architecture)")
                print("  \(modelDirectory)/{\(written.files.joined(separator: ","))}")
                return
            }
            var r = ExportRequest(run: runDirectory!)
            r.architecture = arch; r.search = search; r.out = out; r.folded = folded; r.onnx = onnx
            r.calibration = CalibrationSet(images: calibrationImages, seed: seed)
            let e = try export(r, engine: engine, log: logLine)
            printExport(e)
        }
    }
}
