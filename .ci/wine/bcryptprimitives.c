/*
 * bcryptprimitives.dll for Wine 8 (Debian 12), which lacks it: Go's runtime
 * (1.22 and later) takes its random numbers from ProcessPrng there, as on
 * Windows 10. This one answers with RtlGenRandom. Built by .ci/platforms
 * with mingw-w64 and put in the Wine prefix's system32; never shipped.
 */
#include <windows.h>
#include <ntsecapi.h>

__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len)
{
	while (len > 0) {
		ULONG n = len > 0x10000000 ? 0x10000000 : (ULONG)len;
		if (!RtlGenRandom(data, n))
			return FALSE;
		data += n;
		len -= n;
	}
	return TRUE;
}
