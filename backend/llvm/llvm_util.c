/* Target set-up and error helpers of the LLVM backend (llvm_internal.h). */
#include <llvm-c/Transforms/PassBuilder.h>
#include <stdio.h>
#include <string.h>

#include "llvm_internal.h"

int atl_llvm_take_error(LLVMErrorRef e, const char *what, char *buf, size_t n)
{
    if (!e)
        return 0;
    char *msg = LLVMGetErrorMessage(e); /* consumes e; we own msg */
    snprintf(buf, n, "%s: %s", what, msg);
    LLVMDisposeErrorMessage(msg);
    return -1;
}

int atl_llvm_init(char *err, size_t errlen)
{
    /* before anything else: without them LLVMGetTargetFromTriple fails and LLJIT cannot emit */
    if (LLVMInitializeNativeTarget() || LLVMInitializeNativeAsmPrinter()) {
        snprintf(err, errlen, "LLVM: the native target is not available");
        return -1;
    }
    return 0;
}

int atl_llvm_host_init(atl_llvm_host *h, char *err, size_t errlen)
{
    memset(h, 0, sizeof *h);
    if (atl_llvm_init(err, errlen))
        return -1;
    h->triple = LLVMGetDefaultTargetTriple(); /* each owned by us: LLVMDisposeMessage */
    h->cpu = LLVMGetHostCPUName();
    h->features = LLVMGetHostCPUFeatures();
    if (!h->triple || !h->cpu || !h->features) {
        snprintf(err, errlen, "LLVM: cannot describe the host CPU");
        atl_llvm_host_fini(h);
        return -1;
    }
    return 0;
}

void atl_llvm_host_fini(atl_llvm_host *h)
{
    if (h->triple)
        LLVMDisposeMessage(h->triple);
    if (h->cpu)
        LLVMDisposeMessage(h->cpu);
    if (h->features)
        LLVMDisposeMessage(h->features);
    memset(h, 0, sizeof *h);
}

LLVMTargetMachineRef atl_llvm_host_tm(const atl_llvm_host *h, char *err, size_t errlen)
{
    LLVMTargetRef target = NULL;
    char *msg = NULL;
    if (LLVMGetTargetFromTriple(h->triple, &target, &msg)) {
        snprintf(err, errlen, "LLVM: no target for %s: %s", h->triple, msg ? msg : "?");
        LLVMDisposeMessage(msg);
        return NULL;
    }
    LLVMTargetMachineRef tm =
        LLVMCreateTargetMachine(target, h->triple, h->cpu, h->features, LLVMCodeGenLevelAggressive,
                                LLVMRelocPIC, LLVMCodeModelJITDefault);
    if (!tm)
        snprintf(err, errlen, "LLVM: cannot create a target machine for %s (%s)", h->triple,
                 h->cpu);
    return tm;
}

void atl_llvm_fn_attrs(LLVMValueRef fn, const atl_llvm_host *h)
{
    LLVMContextRef ctx = LLVMGetTypeContext(LLVMTypeOf(fn));
    LLVMAddAttributeAtIndex(fn, LLVMAttributeFunctionIndex,
                            LLVMCreateStringAttribute(ctx, "target-cpu", 10, h->cpu,
                                                      (unsigned)strlen(h->cpu)));
    LLVMAddAttributeAtIndex(fn, LLVMAttributeFunctionIndex,
                            LLVMCreateStringAttribute(ctx, "target-features", 15, h->features,
                                                      (unsigned)strlen(h->features)));
    unsigned nounwind = LLVMGetEnumAttributeKindForName("nounwind", 8);
    LLVMAddAttributeAtIndex(fn, LLVMAttributeFunctionIndex,
                            LLVMCreateEnumAttribute(ctx, nounwind, 0));
}

int atl_llvm_optimize(LLVMModuleRef mod, LLVMTargetMachineRef tm, char *err, size_t errlen)
{
    LLVMPassBuilderOptionsRef po = LLVMCreatePassBuilderOptions(); /* ours: disposed below */
    LLVMPassBuilderOptionsSetLoopVectorization(po, 1);
    LLVMPassBuilderOptionsSetSLPVectorization(po, 1);
    LLVMPassBuilderOptionsSetLoopUnrolling(po, 0);
    LLVMErrorRef e = LLVMRunPasses(mod, "default<O3>", tm, po);
    LLVMDisposePassBuilderOptions(po);
    return atl_llvm_take_error(e, "LLVM optimisation", err, errlen);
}
