import Datasets
import Layers
import Networks
import Spaces
import TensorCore

/// The training recipe of the reference: SGD (momentum 0.9, Nesterov, weight decay 4e-5
/// on conv/linear weights), per-step cosine learning rate from 0.1, label smoothing 0.1.
public struct Recipe: Codable, Equatable, Sendable {
    // (Stored in run.json; resuming with a different recipe is refused.)
    public var optimizer = SGD()
    public var learningRate: Float = 0.1
    public var labelSmoothing: Float = 0.1
    public var batchSize = 128
    /// Epochs of linear warm-up to `learningRate` before the cosine decay.
    public var warmupEpochs = 0.0
    /// Network slimming (Liu et al. 2017): an L1 penalty of this weight on every BatchNorm
    /// scale, so that unimportant channels' scales go to zero (0: off).
    public var slimming: Float = 0
    /// Decay of an exponential moving average of the weights (and BN statistics) that
    /// validation and the written weights use (0: off; `WeightAverage`).
    public var averageDecay: Float = 0

    public init() {}

    enum CodingKeys: String, CodingKey { case optimizer, learningRate, labelSmoothing, batchSize, warmupEpochs, slimming, averageDecay }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        optimizer = try c.decode(SGD.self, forKey: .optimizer)
        learningRate = try c.decode(Float.self, forKey: .learningRate)
        labelSmoothing = try c.decode(Float.self, forKey: .labelSmoothing)
        batchSize = try c.decode(Int.self, forKey: .batchSize)
        // Stored before warm-up existed: none.
        warmupEpochs = try c.decodeIfPresent(Double.self, forKey: .warmupEpochs) ?? 0
        slimming = try c.decodeIfPresent(Float.self, forKey: .slimming) ?? 0
        averageDecay = try c.decodeIfPresent(Float.self, forKey: .averageDecay) ?? 0
    }
}

/// Runs single-path training steps on a supernet: forward the path, loss, backward,
/// SGD step on the parameters the path touched.
public final class Trainer {
    public let network: any Network
    public let recipe: Recipe
    public let schedule: LRSchedule
    public private(set) var step = 0
    private let loss: SoftmaxCrossEntropy
    private let distillationLoss = SoftmaxCrossEntropy()
    private let parameters: [Parameter]

    /// `stepsPerEpoch` converts the recipe's warm-up epochs into steps.
    public init(network: any Network, recipe: Recipe, totalSteps: Int, stepsPerEpoch: Int = 0, startStep: Int = 0) {
        self.network = network
        self.recipe = recipe
        let warmup = min(Int((recipe.warmupEpochs * Double(stepsPerEpoch)).rounded()), max(totalSteps, 1) - 1)
        schedule = LRSchedule(base: recipe.learningRate, shape: .cosine, totalSteps: max(totalSteps, 1), warmupSteps: max(warmup, 0))
        loss = SoftmaxCrossEntropy(labelSmoothing: recipe.labelSmoothing)
        parameters = network.parameters
        scales = network.norms.map(\.gamma)
        step = startStep
    }

    private let scales: [Parameter]
    /// Data parallelism: sums the gradients over the job between backward and update.
    public var synchronizeGradients: (([Parameter]) -> Void)?
    /// Quantization-aware training: these weights run forward and backward fake-quantized
    /// (int8 per output channel); the update applies their gradient to the float values
    /// (straight-through estimator; max |w| sets the scale, so nothing is clipped).
    public var fakeQuantizedWeights: [Parameter] = []
    /// Knowledge distillation: single-path steps learn from this teacher's logits as well
    /// as the labels (TrainingRun.attach(teacher:)).
    public internal(set) var teacher: Teacher?

    /// Fake-quantizes `fakeQuantizedWeights` in place; returns the float values to restore.
    func quantizeWeights() -> [[Float]] {
        fakeQuantizedWeights.map { p in
            let saved = Array(UnsafeBufferPointer(start: p.value, count: p.count))
            FakeQuantization.weights(p.value, count: p.count, rows: p.shape[0])
            return saved
        }
    }

    func restoreWeights(_ saved: [[Float]]) {
        for (p, v) in zip(fakeQuantizedWeights, saved) { p.value.update(from: v, count: v.count) }
    }

    /// Network slimming's subgradient of lambda * sum |gamma|: lambda * sign(gamma) added to the
    /// gradient of every BN scale this step touched (all its channels: meant for standalone
    /// networks, where every channel is active).
    public static func addSlimmingPenalty(_ scales: [Parameter], lambda: Float) {
        for p in scales where p.touched {
            for i in 0..<p.count where p.value[i] != 0 { p.grad[i] += p.value[i] > 0 ? lambda : -lambda }
        }
    }

    /// Continue from a checkpoint's step (the learning-rate schedule's position).
    public func resume(at step: Int) { self.step = step }

    public struct StepResult: Sendable {
        public var loss: Double
        public var correct: Int
        public var learningRate: Float
    }

    /// One SGD step on `arch`. Labels are class indices, one per image of the batch.
    public func train(images: FeatureMap, labels: [Int32], arch: Architecture) -> StepResult {
        let saved = quantizeWeights()
        let soft = teacher?.logits(images)
        let logits = network.forward(images, arch: arch, mode: .training)
        let result = labels.withUnsafeBufferPointer { l in
            if let teacher, let soft { return teacher.loss.evaluate(logits: logits, labels: l, teacher: soft, gradient: true) }
            return loss.evaluate(logits: logits, labels: l, gradient: true)
        }
        network.backward(result.gradient!)
        restoreWeights(saved)
        synchronizeGradients?(parameters)
        if recipe.slimming > 0 { Self.addSlimmingPenalty(scales, lambda: recipe.slimming) }
        let lr = schedule.rate(at: step)
        recipe.optimizer.step(parameters, learningRate: lr, engine: network.engine)
        step += 1
        return StepResult(loss: result.loss, correct: result.correct, learningRate: lr)
    }
}

extension Trainer {
    /// One SGD step with in-place distillation: `paths[0]` (the teacher, the largest) on the
    /// labels, every other path on the teacher's softmax (held fixed); the gradients of all
    /// losses add up before the one update. The result is the teacher's.
    public func train(images: FeatureMap, labels: [Int32], distilling paths: [Architecture]) -> StepResult {
        precondition(!paths.isEmpty, "distillation needs a teacher path")
        let logits = network.forward(images, arch: paths[0], mode: .training)
        let result = labels.withUnsafeBufferPointer { loss.evaluate(logits: logits, labels: $0, gradient: true) }
        let targets = SoftmaxCrossEntropy.softmax(logits)
        network.backward(result.gradient!)
        var finite = result.loss.isFinite
        for student in paths.dropFirst() {
            let z = network.forward(images, arch: student, mode: .training)
            let r = targets.withUnsafeBufferPointer { distillationLoss.evaluate(logits: z, targets: $0.baseAddress!, gradient: true) }
            finite = finite && r.loss.isFinite
            network.backward(r.gradient!)
        }
        synchronizeGradients?(parameters)
        if recipe.slimming > 0 { Self.addSlimmingPenalty(scales, lambda: recipe.slimming) }
        let lr = schedule.rate(at: step)
        recipe.optimizer.step(parameters, learningRate: lr, engine: network.engine)
        step += 1
        // A student's non-finite loss stops training as the teacher's would.
        return StepResult(loss: finite ? result.loss : .nan, correct: result.correct, learningRate: lr)
    }

    /// `steps` SGD steps on `arch` with batches from `loader`, starting a new epoch (drawn
    /// from `rng`) whenever it runs out. Returns the step whose loss was not finite (training
    /// stops there), or nil.
    public func train(steps: Int, arch: Architecture, loader: BatchLoader, rng: RNG) -> Int? {
        precondition(loader.batchesPerEpoch > 0, "\(loader.dataset.count) images make no batch of \(loader.batchSize)")
        var done = 0
        while done < steps {
            loader.startEpoch(rng: rng)
            while done < steps, let b = loader.next(rng: rng) {
                guard train(images: b.images, labels: b.labels, arch: arch).loss.isFinite else { return done }
                done += 1
            }
        }
        return nil
    }
}
