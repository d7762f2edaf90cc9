"""Why does the MNIST network say "7"? Train (or load) the reference CNN and draw what it learnt.

    python -m nnx.examples.explain_mnist [--out DIR] [--model saved.nnx] [--save mnist_cnn.nnx] [--limit N]

Without --model it trains the reference CNN for one epoch (minutes on 2 cores), logging the
running training loss and accuracy every 100 batches. It then writes into DIR (default: the current
directory):

    history.png       training curves (only when it trained)
    filters.png       the 32 3x3 filters of the first convolution
    feature_maps.png  what the first convolution makes of one test digit
    saliency.png      SmoothGrad saliency of the predicted class for 8 test digits
    grad_cam.png      Grad-CAM of the predicted class (second convolution, 11x11) for the same digits
    confusion.png     the confusion matrix on the 10,000 test images (or --limit of them)

Needs matplotlib: pip install "nnx[plot]".
"""
import argparse
import os

import nnx
from nnx import explain, plot
from nnx.callbacks import History
from nnx.examples.mnist_cnn import build_model, load
from nnx.layers import Conv2D
from nnx.models import load_model

SHOWN = 8           # test digits shown in the attribution pictures


class BatchHistory(History):
    """A History that also keeps the running training loss and metrics every `every` batches, so one
    epoch still draws a curve (validation stays once per epoch)."""

    def __init__(self, every=100):
        super().__init__()
        self.every = every

    def on_train_batch_end(self, batch, logs=None):
        if (batch + 1) % self.every == 0:
            for key, value in (logs or {}).items():
                self.history.setdefault(key, []).append(value)

    def on_epoch_end(self, epoch, logs=None):
        self.epoch.append(epoch)
        for key, value in (logs or {}).items():
            if key.startswith("val_"):
                self.history.setdefault(key, []).append(value)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m nnx.examples.explain_mnist",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--out", default=".", help="directory for the PNG files (default: .)")
    parser.add_argument("--model", default=None, help="load this saved model instead of training")
    parser.add_argument("--save", default="", help="save the trained model here ('' to skip)")
    parser.add_argument("--limit", type=int, default=None, help="use only the first N training and N test images (a quick look)")
    parser.add_argument("--seed", type=int, default=0, help="seed for training and explanations")
    args = parser.parse_args(argv)
    nnx.manual_seed(args.seed)
    os.makedirs(args.out, exist_ok=True)
    out = lambda name: os.path.join(args.out, name)

    (x_train, y_train), (x_test, y_test) = load(args.limit)
    x_test, y_test = x_test[:args.limit], y_test[:args.limit]
    if args.model:
        model = load_model(args.model)
        print(f"Loaded {args.model}")
    else:
        model = build_model()
        log = BatchHistory()
        model.fit(x_train, y_train, epochs=1, batch_size=32, validation_data=(x_test, y_test),
                  callbacks=[log], verbose=2)
        plot.history(log, path=out("history.png"))
        if args.save:
            model.save(args.save)
            print(f"Saved the model to {args.save}")

    probabilities = model.predict(x_test, batch_size=1000, verbose=0)
    predicted = probabilities.argmax(axis=1)
    print(f"Test accuracy: {(predicted == y_test).mean():.4f}")
    convs = [layer for layer in model.layers if isinstance(layer, Conv2D)]
    digits = x_test[:SHOWN]

    plot.filters(convs[0], path=out("filters.png"))
    plot.feature_maps(model, digits[0], convs[0], path=out("feature_maps.png"))
    plot.attribution(digits, explain.smoothgrad(model, digits, samples=50, seed=args.seed),
                     path=out("saliency.png"))
    plot.attribution(digits, explain.grad_cam(model, digits, layer=convs[1]), path=out("grad_cam.png"))
    plot.confusion_matrix(y_test, predicted, path=out("confusion.png"))
    print(f"Wrote the pictures to {os.path.abspath(args.out)}; the digits shown are labelled "
          f"{y_test[:SHOWN].tolist()} and predicted {predicted[:SHOWN].tolist()}")


if __name__ == "__main__":
    main()
