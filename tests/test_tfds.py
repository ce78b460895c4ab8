import pytest
import tensorflow_datasets as tfds

from conftest import tiny_config
from lepton_tf.data.sources import load_data
from lepton_tf.errors import DataError


def test_tfds_images_load_offline_through_mock_data(tmp_path):
    with tfds.testing.mock_data(num_examples=24):
        data = load_data(tiny_config("tfds:mnist").data, tmp_path)
    assert data.class_names == [str(i) for i in range(10)]
    assert data.train.images.shape[1:] == (12, 12, 3)  # grayscale resized and made RGB
    assert len(data.test) == 24 and len(data.train) + len(data.val) == 24


def test_unknown_tfds_name_is_a_clear_error(tmp_path):
    with pytest.raises(DataError, match="unknown TFDS data set 'tfds:no_such_set'"):
        load_data(tiny_config("tfds:no_such_set").data, tmp_path)
