import ArgumentParser
import Datasets
import Distributed
import Networks
import Pruning
import Search
import Spaces
import Training
import Workflows

struct TrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Train a weight-sharing supernet, one sampled path per step (Single Path One-Shot).",
        discussion: """
        Holds out the last --validation images of the training file; at each epoch end scores the smallest, \
        largest and --probes random architectures on it after BN recalibration. Writes RUN/run.json, \
        RUN/train.jsonl (per step and per epoch), RUN/checkpoints/ckpt-STEP.bin and RUN/summary.json. \
        Ctrl-C writes a checkpoint and stops; `pare train --run RUN --resume` continues bit-exactly.
        """)

    @Option(name: .customLong("run"), help: "Run directory (e.g. runs/fm1).") var runDirectory: String
    @Option(help: "Search-space file, or 'reference' (required for a new run).") var space: String?
    @Option(help: "fashion-mnist[:DIR], mnist:DIR, cifar10:DIR, folder:DIR (class folders of PNG/JPEG images: DIR/<class>/…, or DIR/train/<class>/… with optional DIR/val/, DIR/test/), npz:FILE (x_train, y_train, optional x_val, y_val, x_test, y_test), npy:IMAGES,LABELS[,TEST_IMAGES,TEST_LABELS] or synthetic (default fashion-mnist).") var data: String?
    @Option(help: "Image folders: how an image of another aspect becomes the square input: crop (the centred crop, the default), pad (letterboxed on black) or stretch.")
    var fit: ImageFit?
    @Flag(help: "Image folders: skip unreadable, corrupt and non-image files (and report how many) instead of stopping at the first.")
    var skipBadImages = false
    @Option(help: "Path sampling: distill (the default: every step trains the largest path on the labels and the smallest and 2 random paths on its outputs, about 4x a single path's compute; distill:N for N random), uniform (SPOS: one random path per step), fair, sandwich (largest, smallest, random in turn) or flops-band:MIN-MAX (e.g. flops-band:1.5M-3M).",
            transform: { text in
                guard let s = SamplingStrategy(parsing: text, count: parseCount) else { throw ValidationError("'\(quoted(text))' is not \(SamplingStrategy.nameHelp)") }
                return s
            })
    var sampling: SamplingStrategy?
    @Option(help: "Validation images held out from the end of the training file (default 10000).") var validation: Int?
    @Option(help: "Use only the first N training images (default 0: all).") var trainLimit: Int?
    @Option(help: "Random probe architectures scored at each epoch end (default 3).") var probes: Int?
    @Option(help: "Weight sharing between a block's kernel sizes: none (each operator its own weights), crop (one operator per family, smaller kernels the centre of the largest) or transform (crop times a learned matrix). Default: the space file's kernel_sharing.",
            transform: { text in
                guard let s = KernelSharing(rawValue: text) else { throw ValidationError("'\(quoted(text))' is not \(KernelSharing.nameHelp)") }
                return s
            })
    var kernelSharing: KernelSharing?
    @Option(help: "Round every middle width to a multiple of N (1-64), for runtimes that want channel counts in multiples of their vector width; the space's stage widths must be multiples of N. Default: the space file's channel_multiple.")
    var channelMultiple: Int?

    func validate() throws {
        if let k = channelMultiple, !(1...64).contains(k) { throw ValidationError("--channel-multiple must be in 1...64, got \(k)") }
    }
    @Option(help: "Progressive shrinking (Once-for-All): K,W,O = the epochs (from 0) at which kernel sizes, then widths and ratios, then all operators open; before K only the largest network trains (e.g. 1,2,3).",
            transform: { text in
                let parts = text.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
                guard parts.count == 3, let k = parts[0], let w = parts[1], let o = parts[2], 0 <= k, k <= w, w <= o else {
                    throw ValidationError("'\(quoted(text))' is not K,W,O: three epochs with 0 <= K <= W <= O (e.g. 1,2,3)")
                }
                return ProgressiveShrinking(kernelEpoch: k, widthEpoch: w, operatorEpoch: o)
            })
    var progressive: ProgressiveShrinking?
    @Option(help: "Sort every channel set of the supernet by importance once, at the start of an epoch (Once-for-All before elastic widths), so narrower candidates inherit the most important channels: CRITERION[@EPOCH] with CRITERION l1, l2, slimming, fpgm or fpgm-weak, EPOCH from 0 (default: the width epoch of --progressive).",
            transform: { text in
                guard let c = ChannelSortingChoice(text) else {
                    throw ValidationError("'\(quoted(text))' is not CRITERION[@EPOCH] with CRITERION \(ImportanceCriterion.names) and EPOCH a number")
                }
                return c
            })
    var sortChannels: ChannelSortingChoice?
    @Option(help: "PruningNet (MetaPruning): true generates every block layer's weights from the architecture's encoding with a small fully connected network per layer (default: the space file's pruning_net).")
    var pruningNet: Bool?
    @Flag(help: "Initialise MPI even when no MPI launcher started this process (mpirun does it anyway).") var mpi = false
    @Flag(help: "Under MPI: synchronized BatchNorm (statistics of the whole global batch, as one process would compute them) instead of each rank's own shard.")
    var syncBn = false
    @OptionGroup var options: TrainingOptions

    /// The training the options describe.
    var request: TrainRequest {
        var r = TrainRequest(run: runDirectory)
        r.space = space; r.data = data; r.sampling = sampling; r.validation = validation; r.trainLimit = trainLimit
        r.probes = probes; r.kernelSharing = kernelSharing; r.channelMultiple = channelMultiple; r.progressive = progressive; r.sortChannels = sortChannels
        r.pruningNet = pruningNet; r.synchronizedBatchNorm = syncBn; r.recipe = options.overrides
        if fit != nil || skipBadImages { r.imageOptions = ImageOptions(fit: fit ?? .crop, skipBadImages: skipBadImages) }
        return r
    }

    func run() throws {
        try reportingErrors {
            let job = try Job.communicator(force: mpi)
            let engine = startEngine(threads: options.threads ?? jobThreads(job))
            guard let r = try trainSupernet(request, job: job, engine: engine, log: logLine) else { return }
            if let c = r.collectives {
                let steps = Double(max(r.training.steps, 1))
                logLine(String(format: "MPI rank 0: %d allreduce calls (%.1f per step, %.2f MB per step) took %.2f s of %.2f s (%.1f%%)",
                               c.calls, Double(c.calls) / steps, Double(c.bytes) / steps / 1e6, c.seconds, r.training.seconds,
                               100 * c.seconds / max(r.training.seconds, 1e-9)))
            }
            printTrainingSummary(r.training)
        }
    }
}
