/* bcryptprimitives.dll for wine 8 (Debian 12), which lacks it: Rust's std on Windows takes its
 * random numbers from ProcessPrng, which only this DLL exports. Here it calls RtlGenRandom
 * (advapi32's SystemFunction036), which wine has. Used only to run genmount's Windows tests under
 * wine (ci/cross.sh); real Windows has the DLL since Windows 8. */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T length)
{
    while (length > 0) {
        ULONG chunk = length > 0x10000000 ? 0x10000000 : (ULONG)length;
        if (!SystemFunction036(data, chunk))
            return FALSE;
        data += chunk;
        length -= chunk;
    }
    return TRUE;
}
