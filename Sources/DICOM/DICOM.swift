import CDICOM
