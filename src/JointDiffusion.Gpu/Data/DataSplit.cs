namespace JointDiffusion.Gpu.Data;

/// <summary>Which part of a data set with a fixed split (MNIST, Fashion-MNIST) to read.</summary>
public enum DataSplit
{
    /// <summary>The training images (<c>train-*</c>, 60 000 for MNIST and Fashion-MNIST).</summary>
    Train,

    /// <summary>The test images (<c>t10k-*</c>, 10 000 for MNIST and Fashion-MNIST).</summary>
    Test,
}
