#include "dcmtk/config/osconfig.h"
#include "cdicom.h"
