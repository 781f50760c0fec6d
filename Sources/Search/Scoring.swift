/// How a search's candidates are scored. Stored in the search state: a resume that would
/// score differently (and so mix incomparable scores) is refused.
public struct ScoringSettings: Codable, Equatable, Sendable, CustomStringConvertible {
    /// Training images whose batch statistics recalibrate BN before scoring.
    public var calibrationImages: Int
    /// Validation images the accuracy is measured on (the same ones for every candidate).
    public var validationImages: Int
    /// SGD steps on the candidate alone (on a copy of its inherited weights) before
    /// recalibration; 0 scores the inherited weights as they are.
    public var finetuneSteps: Int
    /// Peak learning rate of those steps (cosine to 0).
    public var finetuneLearningRate: Float

    public init(calibrationImages: Int = 2560, validationImages: Int, finetuneSteps: Int = 0, finetuneLearningRate: Float = 0.01) {
        self.calibrationImages = calibrationImages
        self.validationImages = validationImages
        self.finetuneSteps = finetuneSteps
        self.finetuneLearningRate = finetuneLearningRate
    }

    public var description: String {
        let base = "BN recalibrated on \(calibrationImages) training images, accuracy on \(validationImages) validation images"
        return finetuneSteps == 0 ? base : "\(finetuneSteps) finetune steps (lr \(finetuneLearningRate), cosine), " + base
    }
}
