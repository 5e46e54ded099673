#include "shim_internal.h"

#include "dcmtk/dcmdata/dcdict.h"
#include "dcmtk/dcmdata/dcdicent.h"
#include "dcmtk/dcmdata/dcuid.h"

extern "C" mn_status mn_tag_keyword(uint32_t tag, char **out, mn_error *err) {
    MN_GUARD(err, {
        if (!out) return mn::fail(err, MN_ERR_ARGUMENT, "mn_tag_keyword: out is NULL");
        DcmTag dcmTag(mn::tagKey(tag));
        const char *name = dcmTag.getTagName();
        if (!name || std::strcmp(name, DcmTag_ERROR_TagName) == 0)
            return mn::failTag(err, MN_ERR_ARGUMENT, mn::tagKey(tag), "unknown tag");
        *out = mn::dupString(name);
        return MN_OK;
    })
}

extern "C" mn_status mn_tag_for_keyword(const char *keyword, uint32_t *tag, mn_error *err) {
    MN_GUARD(err, {
        if (!keyword || !tag) return mn::fail(err, MN_ERR_ARGUMENT, "mn_tag_for_keyword: NULL argument");
        DcmTag dcmTag;
        OFCondition cond = DcmTag::findTagFromName(keyword, dcmTag);
        if (cond.bad()) return mn::fail(err, MN_ERR_ARGUMENT, "unknown attribute keyword '%s'", keyword);
        *tag = mn::tagValue(dcmTag);
        return MN_OK;
    })
}

extern "C" const char *mn_uid_name(const char *uid) {
    if (!uid) return nullptr;
    return dcmFindNameOfUID(uid, nullptr);
}
