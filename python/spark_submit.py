"""The application file for spark-submit: `spark-submit ... python/spark_submit.py INPUT...
--out DIR` runs neardup-spark under the cluster's settings (the package must be
installed on the driver and every worker)."""

import sys

from neardup.spark import main

if __name__ == "__main__":
    sys.exit(main())
