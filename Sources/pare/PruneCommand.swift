import ArgumentParser
import Foundation
import Networks
import Pruning
import Workflows

struct PruneCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "prune",
        abstract: "Prune a trained model's channels to a FLOPs or parameter target (L1, L2, network slimming, FPGM, FPGM with weak-layer penalty).",
        discussion: """
        DIR is a model directory (pare export; for a classic network such as search-spaces/resnet20.yaml: \
        pare train then pare export --run RUN). Channels are scored per coupled group (residual additions, \
        a block's expand/depthwise/project chain are pruned together), ranked globally across the network and \
        removed lowest first until the target holds, no width below --min-width of its original count. The \
        pruned network's BN statistics are recalibrated on --calibration-images training images; OUT is a \
        physically smaller model directory (model.json with a 'pruning' record, safetensors, optional ONNX). \
        With --rounds N the target is approached in N geometric steps, each pruned from the previous round \
        (finetuned for --finetune-epochs first); rounds live in OUT/rounds/ and --resume continues them.
        """)

    @Argument(help: "Model directory to prune (written by pare export or pare prune).") var modelDirectory: String
    @Option(help: "Importance criterion: l1, l2 (filter norms), slimming (BN |gamma|), fpgm or fpgm-weak (geometric median; weak layers scaled by --nu); or search (per-layer widths by evolutionary search on a width-only supernet holding the model, channels ordered by --importance).")
    var method = PruneMethod.criterion(.l1)
    @Option(help: "--method search: the criterion that orders channels before the width supernet inherits them (default l1).") var importance: ImportanceCriterion = .l1
    @Option(help: "--method search: epochs of sandwich training of the width supernet (default 2).") var searchEpochs = 2
    @Option(help: "--method search: population of the evolutionary search (default 30).") var population = 30
    @Option(help: "--method search: generations of the evolutionary search (default 10).") var generations = 10
    @Option(help: "--method search: validation images each candidate is scored on (default: the whole validation split).") var validationImages: Int?
    @Option(help: "MACs target: a percentage of the model's (50%) or a count (15M).", transform: { try costArgument($0) }) var targetFlops: CostAmount?
    @Option(help: "Parameter target: a percentage of the model's (40%) or a count (120K).", transform: { try costArgument($0) }) var targetParams: CostAmount?
    @Option(help: "fpgm-weak: importance factor of weak (redundant) layers, in (0, 1] (default 0.9).") var nu = 0.9
    @Option(help: "fpgm, fpgm-weak: added to each layer's R range before dividing (default 1e-8).") var theta = 1e-8
    @Option(help: "No width falls below this fraction of its original count (default 0.1; never below 1 channel).") var minWidth = 0.1
    @Option(help: "Weights to prune: exported, finetuned, scratch or a .safetensors file (default: finetuned if present).") var weights: WeightsChoice?
    @Option(help: "Output model directory.") var out: String
    @Option(help: "Data source (default: the one in model.json).") var data: String?
    @Option(help: "Training images for the BN recalibration of the pruned network (default 2560).") var calibrationImages = CalibrationSet.defaultImages
    @Option(help: "Prune in N rounds (default 1: one shot).") var rounds = 1
    @Option(help: "Finetune each round's pruned model for E epochs before the next round prunes it (default 0).") var finetuneEpochs = 0
    @Option(help: "With --finetune-epochs: validate and write a moving average of the weights with this decay, as pare finetune --ema (default: off).",
            transform: { try emaDecayArgument($0) }) var ema: Float?
    @Flag(help: "Also write model.onnx.") var onnx = false
    @Flag(help: "Also write the BN-folded inference weights.") var folded = false
    @OptionGroup var options: TrainingOptions

    func validate() throws {
        guard (targetFlops == nil) != (targetParams == nil) else { throw ValidationError("pass exactly one of --target-flops and --target-params") }
        if method == .search {
            guard rounds == 1 else { throw ValidationError("--method search finds its widths in one search; drop --rounds") }
            guard searchEpochs >= 1, population >= 2, generations >= 1, validationImages.map({ $0 >= 1 }) ?? true else {
                throw ValidationError("--search-epochs, --generations and --validation-images must be at least 1, --population at least 2")
            }
        }
        guard nu > 0 && nu <= 1 else { throw ValidationError("--nu must be in (0, 1], got \(nu)") }
        guard theta >= 0 && theta.isFinite else { throw ValidationError("--theta must be a finite number >= 0, got \(theta)") }
        guard minWidth > 0 && minWidth <= 1 else { throw ValidationError("--min-width must be in (0, 1], got \(minWidth)") }
        guard (1...20).contains(rounds) else { throw ValidationError("--rounds must be in 1...20, got \(rounds)") }
        guard finetuneEpochs >= 0 else { throw ValidationError("--finetune-epochs must be at least 0") }
        if ema != nil && finetuneEpochs == 0 {
            throw ValidationError("--ema averages the weights of the finetuning: add --finetune-epochs")
        }
        guard options.epochs == nil else { throw ValidationError("use --finetune-epochs for the finetuning of each round, not --epochs") }
        guard calibrationImages >= 1 else { throw ValidationError("--calibration-images must be at least 1") }
    }

    /// The prune the options describe.
    var request: PruneRequest {
        var r = PruneRequest(model: modelDirectory, out: out, metric: targetFlops != nil ? .macs : .parameters, target: targetFlops ?? targetParams!)
        r.method = method
        r.nu = nu; r.theta = theta; r.minimumWidth = minWidth
        r.weights = weights; r.data = data; r.calibrationImages = calibrationImages
        r.rounds = rounds; r.finetuneEpochs = finetuneEpochs; r.average = ema; r.recipe = options.overrides
        r.onnx = onnx; r.folded = folded
        r.importance = importance; r.searchEpochs = searchEpochs; r.population = population; r.generations = generations
        r.validationImages = validationImages
        return r
    }

    func run() throws {
        try reportingErrors {
            let engine = startEngine(threads: options.threads)
            let r = try prune(request, engine: engine, log: logLine, finetuned: { printFinetune($0, model: $0.model) })
            if method == .search {
                if let s = r.bySearch.widthSupernet { printTrainingSummary(s) }
                if let s = r.bySearch.search { printSearch(s, top: 10) }
                if let e = r.bySearch.export { printExport(e) }
                print(String(format: "pruned by search: %@ M -> %@ M MACs, %d -> %d params", millions(r.macs.before), millions(r.macs.after),
                             r.parameters.before, r.parameters.after))
                return
            }
            print(String(format: "pruned: %@ M -> %@ M MACs (%.1f%% fewer), %d -> %d params (%.1f%% fewer)", millions(r.macs.before), millions(r.macs.after),
                         100 * (1 - Double(r.macs.after) / Double(r.macs.before)), r.parameters.before, r.parameters.after,
                         100 * (1 - Double(r.parameters.after) / Double(r.parameters.before))))
            print("  \(out)/model.json; evaluate with: pare eval \(out)" + (finetuneEpochs > 0 ? "" : "; finetune with: pare finetune \(out)"))
        }
    }
}
