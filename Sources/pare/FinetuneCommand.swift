import ArgumentParser
import Networks
import Pruning
import Training
import Workflows

struct FinetuneCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "finetune",
        abstract: "Train an exported standalone model from its inherited weights (or from scratch).",
        discussion: """
        DIR is a directory written by `pare export`. Trains with the same recipe options, progress, JSON-lines \
        metrics and checkpoints as `pare train` (run files in DIR/finetune); Ctrl-C checkpoints and \
        `pare finetune DIR --resume` continues bit-exactly. Evaluates on the validation split after each epoch \
        (running BN statistics) and writes DIR/model.finetuned.safetensors at the end.
        """)

    @Argument(help: "Model directory written by pare export.") var modelDirectory: String
    @Option(help: "Data source (default: the one the supernet was trained on, from model.json).") var data: String?
    @Flag(help: "Start from freshly initialised weights instead of the inherited ones.") var fromScratch = false
    @Option(name: .customLong("run"), help: "Run directory for checkpoints and logs (default DIR/finetune, DIR/scratch with --from-scratch).") var runDirectory: String?
    @Option(help: "Soft pruning with a global mask: at every epoch start zero the globally least important --rate of the prunable channels (or as many as --target-flops or --target-params needs) by this criterion (l1, l2, slimming, fpgm, fpgm-weak); they keep training and may come back; at the end they are removed and the smaller model written to --pruned-out.")
    var softPrune: ImportanceCriterion?
    @Option(help: "Soft pruning: fraction of the prunable channels masked (default 0.4).") var rate = 0.4
    @Option(help: "Soft pruning: mask as many channels as it takes to reach this MACs target instead of --rate, a percentage of the model's (50%) or a count (15M).",
            transform: { try costArgument($0) })
    var targetFlops: CostAmount?
    @Option(help: "Soft pruning: the same with a parameter target (40%, 120K).", transform: { try costArgument($0) }) var targetParams: CostAmount?
    @Option(help: "Soft pruning with fpgm-weak: weak-layer factor (default 0.9).") var nu = 0.9
    @Option(help: "Soft pruning with fpgm, fpgm-weak: denominator offset (default 1e-8).") var theta = 1e-8
    @Option(help: "Soft pruning: no width below this fraction of its count (default 0.1).") var minWidth = 0.1
    @Option(help: "Soft pruning: where the pruned model goes (default DIR/soft-pruned).") var prunedOut: String?
    @Flag(help: "Quantization-aware finetuning: BN frozen, weights (int8 per channel) and every BN output (uint8, ranges calibrated on 10 training batches first) fake-quantized, straight-through gradients clipped to each range; writes DIR/model.qat.safetensors (run files in DIR/qat). Quantize it with pare quantize DIR --weights qat.")
    var qat = false
    @Option(help: "Average the weights (and BN statistics) over the steps with this exponential decay, e.g. 0.999; validation and the written weights use the average (default: off).",
            transform: { try emaDecayArgument($0) })
    var ema: Float?
    @Flag(help: "Train on the validation split too, every image of the training file: for the final model once its settings are chosen on validation (the epoch-end scores then measure images it trains on; judge it with pare eval --split test).")
    var includeValidation = false
    @OptionGroup var teacher: TeacherOptions
    @OptionGroup var options: TrainingOptions

    func validate() throws {
        if softPrune != nil {
            guard rate > 0 && rate < 1 else { throw ValidationError("--rate must be in (0, 1), got \(rate)") }
            guard nu > 0 && nu <= 1 else { throw ValidationError("--nu must be in (0, 1], got \(nu)") }
            guard minWidth > 0 && minWidth <= 1 else { throw ValidationError("--min-width must be in (0, 1], got \(minWidth)") }
            guard !fromScratch else { throw ValidationError("--soft-prune prunes the exported weights; drop --from-scratch") }
            guard targetFlops == nil || targetParams == nil else { throw ValidationError("pass at most one of --target-flops and --target-params") }
        } else if targetFlops != nil || targetParams != nil {
            throw ValidationError("--target-flops and --target-params set soft pruning's target: add --soft-prune")
        }
        if qat {
            guard !fromScratch, softPrune == nil else { throw ValidationError("--qat finetunes trained weights: drop --from-scratch and --soft-prune") }
        }
        if ema != nil {
            guard !qat, softPrune == nil else { throw ValidationError("--ema cannot be combined with --qat or --soft-prune") }
        }
    }

    func run() throws {
        try reportingErrors {
            let engine = startEngine(threads: options.threads)
            let soft = softPrune.map { SoftPruning(method: $0.rawValue, rate: rate, nu: nu, theta: theta, minimumWidth: minWidth) }
            var request = FinetuneRequest(model: modelDirectory)
            request.recipe = options.overrides
            request.data = data; request.fromScratch = fromScratch; request.runDirectory = runDirectory
            request.softPrune = soft; request.softPruneTarget = targetFlops.map { (.macs, $0) } ?? targetParams.map { (.parameters, $0) }
            request.prunedOut = prunedOut; request.qat = qat; request.teacher = try teacher.resolve()
            request.average = ema; request.includeValidation = includeValidation
            printFinetune(try finetune(request, engine: engine, log: logLine), model: modelDirectory)
        }
    }
}
